/**
 * The fan-out of commits to live readers. The hub is the store's one listener: after each commit
 * it hands a `LiveBatch` to the subscribers of that stream. A batch renders each wire form (one
 * stream's SSE, the multiplexed SSE, a Durable Streams read) at most once and as bytes, so a
 * thousand readers of one stream cost a thousand socket writes of the same buffer, not a thousand
 * renderings. Heartbeats and clock ticks come from one timer each, rendered once per tick.
 *
 * Reads may take time (PostgreSQL) and commits may be told at any moment (a replica's feed), so
 * a tail subscribes before its last read of initial data (`hold`): what is committed meanwhile is
 * held, then handed to the tail, which skips what its initial data already had (by seq, or gpos).
 * Nothing committed between the read and the subscription can be lost or repeated.
 */
import type { Bound } from '@statestream/common'
import { ErrorCode } from '@statestream/common'
import { isJsonStream, renderEntries } from '../log-format.ts'
import { mediaType } from '../stream-types.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StoreEvent, StoredEntry, StreamInfo } from '../stream-types.ts'
import { clockEvent, entryEvent, heartbeatEvent, multiEntryEvent, streamEvent, SSE_KEEPALIVE } from './live-events.ts'
import { KernelQueues } from './kernel-queue.ts'
import { LiveAdmission } from './live-admission.ts'
import { OpenWindows } from './open-windows.ts'
import { SseConnection } from './sse-writer.ts'
import type { Chunk } from './sse-writer.ts'
import type { FastifyReply } from 'fastify'

/** Options of the live routes (all durations in ms). */
export interface LiveOptions {
  /** How long a `live=long-poll` read waits for data before answering 204, in ms. Default 20,000. */
  longPollTimeoutMs?: number
  /**
   * A `live=sse` response on `/v1/stream` is ended after this long, in ms, so clients reconnect
   * and CDNs can collapse them (protocol §8.2). Default 60,000.
   */
  sseMaxMs?: number
  /** Interval of `event: heartbeat` on `/v1/live/<name>` (and keep-alive comments on `live=sse`), in ms. Default 15,000. */
  heartbeatMs?: number
  /** Interval of `event: clock` on the multiplexed `/v1/live`, in ms. Default 1,000. */
  clockMs?: number
  /**
   * Most bytes of backlog for one live reader — written and not yet taken by it: queued in the
   * server, in Node's buffer and in the kernel's send buffer — before it is cut with
   * `SLOW_READER` (it resumes from its last id without loss). Initial data is allowed on top until
   * the backlog is back within it. Default 1 MiB.
   */
  maxBufferedBytes?: number
  /**
   * How long a reader cut with `SLOW_READER` keeps its (ended) connection to read the rest and
   * find that error, before its socket is destroyed, in ms. Default 30,000.
   */
  slowReaderGraceMs?: number
  /** Most streams on one multiplexed `/v1/live` connection; more is `TOO_MANY_STREAMS`. Default 100. */
  maxStreamsPerConnection?: number
  /**
   * With access control on: most live connections (SSE and long-polls) one token holds at once;
   * more is `TOO_MANY_CONNECTIONS` (429). Default 100.
   */
  maxLiveConnectionsPerToken?: number
}

/** `LiveOptions` with every default filled in. */
export type ResolvedLiveOptions = Required<LiveOptions>

/** Most bytes of a reader's initial data written in one turn of the event loop (`LiveHub.sendInitial`). */
export const INITIAL_PIECE_BYTES = 64 * 1024

/** The defaults of `LiveOptions`. */
export const LIVE_DEFAULTS: ResolvedLiveOptions = {
  longPollTimeoutMs: 20_000,
  sseMaxMs: 60_000,
  heartbeatMs: 15_000,
  clockMs: 1_000,
  maxBufferedBytes: 1024 * 1024,
  slowReaderGraceMs: 30_000,
  maxStreamsPerConnection: 100,
  maxLiveConnectionsPerToken: 100,
}

/** How long an ended response may take to flush before its socket is destroyed, in ms. */
const CLOSE_GRACE_MS = 1_000

/** One commit of one stream, rendered lazily and once for every reader. */
export class LiveBatch {
  readonly stream: StreamInfo
  readonly entries: readonly StoredEntry[]
  readonly bounds: readonly Bound[]
  #single: Buffer | undefined
  #multi: Buffer | undefined
  #data: Buffer | undefined
  #body: string | Buffer | undefined
  #closing: Set<number> | undefined

  constructor(stream: StreamInfo, entries: readonly StoredEntry[], bounds: readonly Bound[]) {
    this.stream = stream
    this.entries = entries
    this.bounds = bounds
  }

  get firstSeq(): number {
    return this.entries[0]?.seq ?? 0
  }

  get lastSeq(): number {
    return this.entries[this.entries.length - 1]?.seq ?? 0
  }

  get firstGpos(): number {
    return this.entries[0]?.gpos ?? 0
  }

  get lastGpos(): number {
    return this.entries[this.entries.length - 1]?.gpos ?? 0
  }

  /** `entry`/`bound` events for `/v1/live/<name>` readers that have seen up to `afterSeq`. */
  single(afterSeq: number): Buffer {
    if (afterSeq < this.firstSeq) return (this.#single ??= this.#renderSingle(this.entries))
    return this.#renderSingle(this.entries.filter((entry) => entry.seq > afterSeq))
  }

  /** `entry`/`bound` events for multiplexed readers that have seen up to `afterGpos`. */
  multi(afterGpos: number): Buffer {
    if (afterGpos < this.firstGpos) return (this.#multi ??= this.#renderMulti(this.entries))
    return this.#renderMulti(this.entries.filter((entry) => entry.gpos > afterGpos))
  }

  /** The Durable Streams `event: data` of `live=sse` readers that have seen up to `afterSeq`. */
  data(afterSeq: number): Buffer {
    if (afterSeq < this.firstSeq) return (this.#data ??= dataEvent(this.stream, this.entries))
    return dataEvent(this.stream, this.entries.filter((entry) => entry.seq > afterSeq))
  }

  /** The body of a Durable Streams read of exactly this batch (a long-poll answer). */
  body(): string | Buffer {
    return (this.#body ??= renderEntries(this.stream, this.entries))
  }

  #closes(seq: number): boolean {
    this.#closing ??= new Set(this.bounds.map((bound) => bound.seq))
    return this.#closing.has(seq)
  }

  #renderSingle(entries: readonly StoredEntry[]): Buffer {
    return Buffer.from(entries.map((entry) => entryEvent(entry, this.#closes(entry.seq))).join(''))
  }

  #renderMulti(entries: readonly StoredEntry[]): Buffer {
    const stream = JSON.stringify(this.stream.name)
    return Buffer.from(entries.map((entry) => multiEntryEvent(stream, entry, this.#closes(entry.seq))).join(''))
  }
}

/**
 * `event: data` of the Durable Streams SSE mode: a JSON array, the text of a text/* stream, or
 * the base64 of any other stream's bytes (protocol §5.8; the response says so in a header).
 */
export function dataEvent(info: StreamInfo, entries: readonly StoredEntry[]): Buffer {
  const body = renderEntries(info, entries)
  const text = typeof body === 'string' ? body : sseEncoding(info) === 'base64' ? body.toString('base64') : body.toString('utf8')
  return Buffer.from(streamEvent('data', text))
}

/** What the hub tells a subscriber of one stream. */
export interface StreamSubscriber {
  /**
   * Only events of the stream with this id (a stream created later under the same name is
   * another). Default: any stream of the name.
   */
  readonly streamId?: number
  /** Entries were committed. */
  append(batch: LiveBatch): void
  /** The stream was closed; `bound` is its end. Comes after the entries closed with it. */
  closed(info: StreamInfo, bound: Bound): void
  /** The stream was deleted. */
  deleted(info: StreamInfo): void
}

/** A subscription taken ahead of a tail's initial data (`LiveHub.hold`). */
export interface HeldSubscription {
  /** Hands what was held, then every later event, to `subscriber`. */
  follow(subscriber: StreamSubscriber): void
  unsubscribe(): void
}

/** A live response the hub ends when the app closes. */
export interface LiveSession {
  /** Ends the response with `SHUTTING_DOWN`; resolves once it is closed. */
  shutdown(): Promise<void>
}

/** Which periodic ticks a connection wants. */
export type TickKind = 'heartbeat' | 'keepalive' | 'clock'

export class LiveHub {
  readonly #store: StreamStore
  readonly #options: ResolvedLiveOptions
  readonly #subscribers = new Map<string, Set<StreamSubscriber>>()
  readonly #sessions = new Set<LiveSession>()
  readonly #ticks: Record<TickKind, Set<SseConnection>> = {
    heartbeat: new Set(),
    keepalive: new Set(),
    clock: new Set(),
  }
  readonly #timers: NodeJS.Timeout[] = []
  readonly #unsubscribe: () => void
  /** Per-token connection counts and token expiry. */
  readonly admission: LiveAdmission
  /** The kernel's share of each reader's backlog. */
  readonly #kernel = new KernelQueues()
  /** Open windows read once for the readers that connect at the same head. */
  readonly windows = new OpenWindows()
  /** Readers waiting for a turn of their own to read their initial data (`turn`). */
  readonly #turns: Array<() => void> = []
  #turning = false
  #closing = false
  #slowReaderCuts = 0

  constructor(store: StreamStore, options: LiveOptions = {}) {
    this.#store = store
    this.#options = resolveLiveOptions(options)
    this.admission = new LiveAdmission(this.#options.maxLiveConnectionsPerToken)
    this.#unsubscribe = store.subscribe((event) => this.#dispatch(event))
  }

  /** The options in force. */
  get options(): ResolvedLiveOptions {
    return this.#options
  }

  /** Live readers cut with `SLOW_READER` so far (for metrics). */
  get slowReaderCuts(): number {
    return this.#slowReaderCuts
  }

  /** True once `close()` has begun: no new live reads are accepted. */
  get closing(): boolean {
    return this.#closing
  }

  /** Adds `subscriber` to the readers of stream `name`; returns the unsubscribe function. */
  subscribe(name: string, subscriber: StreamSubscriber): () => void {
    let set = this.#subscribers.get(name)
    if (set === undefined) {
      set = new Set()
      this.#subscribers.set(name, set)
    }
    set.add(subscriber)
    return () => {
      const current = this.#subscribers.get(name)
      if (current === undefined) return
      current.delete(subscriber)
      if (current.size === 0) this.#subscribers.delete(name)
    }
  }

  /**
   * Subscribes to stream `name` (of id `streamId`) before a tail's last read of initial data:
   * what is committed from now on is held until `follow` hands it, and then everything after it,
   * to the tail's subscriber, which skips what its initial data already had.
   */
  hold(name: string, streamId?: number): HeldSubscription {
    let target: StreamSubscriber | undefined
    const held: Array<(subscriber: StreamSubscriber) => void> = []
    const pass = (event: (subscriber: StreamSubscriber) => void): void => {
      if (target === undefined) held.push(event)
      else event(target)
    }
    const unsubscribe = this.subscribe(name, {
      ...(streamId !== undefined && { streamId }),
      append: (batch) => pass((subscriber) => subscriber.append(batch)),
      closed: (info, bound) => pass((subscriber) => subscriber.closed(info, bound)),
      deleted: (info) => pass((subscriber) => subscriber.deleted(info)),
    })
    return {
      follow: (subscriber) => {
        target = subscriber
        for (const event of held.splice(0)) guard(() => event(subscriber))
      },
      unsubscribe,
    }
  }

  /**
   * `hold` for several streams of one connection at once: what is committed to any of them from
   * now on is held in one queue, in the order it was committed (gpos order), and handed on once
   * each of them follows or is let go. Held one by one, each stream's backlog would be handed on
   * whole before the next one's, out of gpos order, and a reader that skips what is below the
   * last gpos it sent would skip entries of the later streams.
   */
  holdAll(streams: ReadonlyArray<{ name: string; streamId?: number }>): HeldSubscription[] {
    const targets: Array<StreamSubscriber | undefined> = streams.map(() => undefined)
    const gone = streams.map(() => false)
    const held: Array<{ index: number; event: (subscriber: StreamSubscriber) => void }> = []
    let waiting = streams.length
    const release = (): void => {
      waiting -= 1
      if (waiting > 0) return
      for (const { index, event } of held.splice(0)) {
        const target = targets[index]
        if (target !== undefined && !gone[index]) guard(() => event(target))
      }
    }
    return streams.map(({ name, streamId }, index) => {
      const pass = (event: (subscriber: StreamSubscriber) => void): void => {
        const target = targets[index]
        if (waiting > 0) held.push({ index, event })
        else if (target !== undefined && !gone[index]) event(target)
      }
      const unsubscribe = this.subscribe(name, {
        ...(streamId !== undefined && { streamId }),
        append: (batch) => pass((subscriber) => subscriber.append(batch)),
        closed: (info, bound) => pass((subscriber) => subscriber.closed(info, bound)),
        deleted: (info) => pass((subscriber) => subscriber.deleted(info)),
      })
      return {
        follow: (subscriber) => {
          if (targets[index] !== undefined || gone[index]) return
          targets[index] = subscriber
          release()
        },
        unsubscribe: () => {
          if (gone[index]) return
          const following = targets[index] !== undefined
          gone[index] = true
          unsubscribe()
          if (!following) release()
        },
      }
    })
  }

  /** Readers of `name` right now (for tests and metrics). */
  subscriberCount(name: string): number {
    return this.#subscribers.get(name)?.size ?? 0
  }

  /** Registers a live response to end on shutdown; returns the deregistration function. */
  track(session: LiveSession): () => void {
    this.#sessions.add(session)
    return () => this.#sessions.delete(session)
  }

  /**
   * Opens an SSE response on `reply`, tracked for shutdown and ended when its token expires.
   * `errorEvents`: whether its format has `event: error` (ours do, the Durable Streams one does
   * not); `headers` are added to the response's. Everything it holds is released when it ends,
   * however it ends. Throws (before anything is sent) when the token already holds as many live
   * connections as it may.
   */
  openSse(reply: FastifyReply, errorEvents: boolean, headers: Readonly<Record<string, string>> = {}): SseConnection {
    const release = this.admission.admit(reply.request)
    const connection = new SseConnection(reply, {
      maxBufferedBytes: this.#options.maxBufferedBytes,
      closeGraceMs: CLOSE_GRACE_MS,
      slowReaderGraceMs: this.#options.slowReaderGraceMs,
      kernel: this.#kernel,
      errorEvents,
      headers,
    })
    const untrack = this.track({
      shutdown: () => {
        connection.fail(ErrorCode.SHUTTING_DOWN, 'the server is shutting down; reconnect later')
        return connection.done
      },
    })
    connection.onEnd(untrack)
    connection.onEnd(release)
    connection.onEnd(
      this.admission.onExpiry(reply.request, () =>
        connection.fail(ErrorCode.UNAUTHORIZED, 'the token has expired: renew it and resume from the last id'),
      ),
    )
    connection.onEnd(() => {
      if (connection.failure === ErrorCode.SLOW_READER) this.#slowReaderCuts += 1
    })
    return connection
  }

  /**
   * Sends `connection` the periodic `kind` ticks until it ends. A clock claims that everything up
   * to its gpos has been sent, so a tail starts its clock only once it is following live commits.
   */
  tick(connection: SseConnection, kind: TickKind): void {
    if (!connection.open) return
    this.#ticks[kind].add(connection)
    this.#startTimers()
    connection.onEnd(() => this.#ticks[kind].delete(connection))
  }

  /**
   * Resolves in a turn of the event loop of its own, after every reader that asked before: a
   * burst of connecting readers reads and sends its initial data one reader a turn, and the
   * commits and requests that arrive meanwhile go in between, instead of waiting for all of them.
   * What the caller does synchronously on resolving is that turn.
   */
  turn(): Promise<void> {
    return new Promise((resolve) => {
      this.#turns.push(resolve)
      if (this.#turning) return
      this.#turning = true
      setImmediate(() => this.#nextTurn())
    })
  }

  #nextTurn(): void {
    const resolve = this.#turns.shift()
    if (resolve === undefined) {
      this.#turning = false
      return
    }
    // Its continuation runs in this turn's microtasks; the next reader's turn is queued after
    // them, so what this one queued (a commit's flush) goes first.
    resolve()
    void Promise.resolve().then(() => setImmediate(() => this.#nextTurn()))
  }

  /**
   * Opens an SSE response on `reply` (`openSse`) in a turn of its own (`turn`): a burst of
   * connecting readers then costs the requests and commits that come meanwhile one reader's head at a
   * time, not all of them at once. Undefined when the client left before its turn (the reply is
   * then dropped).
   */
  async openSseInTurn(reply: FastifyReply, errorEvents: boolean): Promise<SseConnection | undefined> {
    await this.turn()
    const socket = reply.raw.socket
    if (socket === null || socket.destroyed) {
      reply.hijack()
      reply.raw.destroy()
      return undefined
    }
    return this.openSse(reply, errorEvents)
  }

  /**
   * Writes initial data to `connection` a piece (`INITIAL_PIECE_BYTES`) a turn: the first in the
   * caller's turn, each other in a turn of its own after every reader that asked before, so a large
   * window holds the event loop no longer than one piece takes. Resolves once all of it is written,
   * or the reader has gone.
   */
  async sendInitial(connection: SseConnection, chunk: Chunk): Promise<void> {
    if (!connection.sendInitial(chunk, INITIAL_PIECE_BYTES)) return
    do await this.turn()
    while (connection.continueInitial(INITIAL_PIECE_BYTES))
  }

  /** Ends every live response (`SHUTTING_DOWN`) and stops the timers; resolves when they are closed. */
  async close(): Promise<void> {
    if (this.#closing) return
    this.#closing = true
    this.#unsubscribe()
    this.windows.clear()
    for (const timer of this.#timers.splice(0)) clearInterval(timer)
    const sessions = [...this.#sessions]
    this.#sessions.clear()
    // Each response gets the grace period to flush its last event; none can hold close() longer.
    await Promise.all(sessions.map((session) => session.shutdown().catch(() => {})))
  }

  #startTimers(): void {
    if (this.#timers.length > 0 || this.#closing) return
    const { heartbeatMs, clockMs } = this.#options
    const renderHeartbeat = (): Chunk => heartbeatEvent(this.#store.now())
    // Every commit up to the store's gpos has been dispatched (a shared engine's: its feed's position).
    const renderClock = (): Chunk => clockEvent(this.#store.gpos, this.#store.now())
    const keepalive = (): Chunk => SSE_KEEPALIVE
    const heartbeat = setInterval(() => {
      // A followed stream that expired ends its readers (`StreamStore.sweep`).
      if (this.#subscribers.size > 0) this.#store.sweep([...this.#subscribers.keys()])
      if (this.#ticks.heartbeat.size > 0) {
        // Rendered once per tick for every reader.
        const chunk = Buffer.from(renderHeartbeat())
        for (const connection of this.#ticks.heartbeat) connection.tick(chunk, renderHeartbeat)
      }
      for (const connection of this.#ticks.keepalive) connection.tick(SSE_KEEPALIVE, keepalive)
    }, heartbeatMs)
    const clock = setInterval(() => {
      if (this.#ticks.clock.size === 0) return
      const chunk = Buffer.from(renderClock())
      for (const connection of this.#ticks.clock) connection.tick(chunk, renderClock)
    }, clockMs)
    // Live readers keep their own sockets open; the timers alone must not keep a process alive.
    heartbeat.unref()
    clock.unref()
    this.#timers.push(heartbeat, clock)
  }

  #dispatch(event: StoreEvent): void {
    // A snapshot, closure or deletion ends the open window read before (appends only extend it).
    if (event.type !== 'append' || event.snapshots.length > 0) this.windows.forget(event.stream.name)
    let batch: LiveBatch | undefined
    if (event.type === 'append' && this.windows.has(event.stream.name)) {
      // The entries join the kept window, rendered as its readers' live events are (once for all).
      const kept = new LiveBatch(event.stream, event.entries, event.snapshots)
      this.windows.extend(event.stream, kept.firstSeq, kept.lastSeq, (afterSeq) => kept.single(afterSeq))
      batch = kept
    }
    const set = this.#subscribers.get(event.stream.name)
    if (set === undefined || set.size === 0) return
    // Copy: a subscriber may unsubscribe (or be cut) while we iterate.
    const subscribers = [...set].filter((subscriber) => subscriber.streamId === undefined || subscriber.streamId === event.stream.id)
    if (event.type === 'delete') {
      for (const subscriber of subscribers) guard(() => subscriber.deleted(event.stream))
      return
    }
    if (event.type === 'close') {
      for (const subscriber of subscribers) guard(() => subscriber.closed(event.stream, event.bound))
      return
    }
    batch ??= new LiveBatch(event.stream, event.entries, event.snapshots)
    for (const subscriber of subscribers) guard(() => subscriber.append(batch))
  }
}

/** Runs `fn`; one faulty subscriber must not keep the others from hearing about a commit. */
function guard(fn: () => void): void {
  try {
    fn()
  } catch {
    // Nothing to do: the subscriber's own connection handling reports its failures.
  }
}

/** The live options among `options` (which may hold others), with defaults for those not given. */
export function resolveLiveOptions(options: LiveOptions): ResolvedLiveOptions {
  const resolved = { ...LIVE_DEFAULTS }
  for (const key of Object.keys(LIVE_DEFAULTS) as Array<keyof LiveOptions>) {
    const value = options[key]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeError(`${key} must be a positive integer, got ${value}`)
    resolved[key] = value
  }
  return resolved
}

/**
 * How `live=sse` on `/v1/stream` carries a stream's data (protocol §5.8): JSON and text/* streams
 * as text, every other stream's bytes as base64.
 */
export function sseEncoding(info: StreamInfo): 'text' | 'base64' {
  return isJsonStream(info) || mediaType(info.contentType).startsWith('text/') ? 'text' : 'base64'
}
