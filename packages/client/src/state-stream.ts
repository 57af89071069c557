/**
 * `client.stream(name)`: one remote state stream as a reader and writer sees it — its held
 * windows, its history, its shared live cursor, and its writes. A handle is thin: it looks up the
 * client's state for the name on every call, so any number of handles of one name share one
 * store and one live cursor, and a handle stays valid after that state was let go of.
 */
import { ErrorCode, HEADERS, JSON_CONTENT_TYPE, ROUTES, STATE_KIND, StateStreamError, assertStreamName, encodeOffset } from '@statestream/common'
import type { Json, Message, Snapshot, SnapshotPolicy, WindowBounds } from '@statestream/common'
import { Observable, defer, finalize } from 'rxjs'
import type { LiveStatus } from './core/connection-machine.ts'
import type { WindowView } from './core/window-index.ts'
import type { Point } from './core/window-machine.ts'
import { history } from './history.ts'
import type { HistoryState } from './history.ts'
import { AT_HEAD } from './io/window-fetcher.ts'
import type { AppendResult } from './producer.ts'
import type { LiveState, StreamCore } from './stream-core.ts'
import { expiryHeaders, readStreamInfo, readWindowBounds } from './stream-info.ts'
import type { StreamInfo, WindowRange } from './stream-info.ts'
import type { Window } from './window-store.ts'

/** Options of `create()`. */
export interface CreateOptions extends CallOptions {
  /** Snapshot policy of the new stream (the server's defaults for what is left out). */
  snapshot?: Partial<SnapshotPolicy>
  /** First messages, e.g. `[{ set: initial }]`. */
  messages?: readonly Message[]
  /**
   * The stream's creation time (its seq-0 snapshot), ms since the epoch, not later than now.
   * Default: now. An import sets it to rebuild a stream exactly (its windows, its state at any T).
   */
  createdAt?: number
  /** `Stream-TTL`: seconds without a read or write after which the stream expires. */
  ttlSeconds?: number
  /** `Stream-Expires-At`: when the stream expires, ms since the epoch (not with `ttlSeconds`). */
  expiresAt?: number
}

/** Options of `append()`. */
export interface AppendOptions extends CallOptions {
  /**
   * Sent as `Stream-Seq`: the append is refused (`STREAM_SEQ_REGRESSION`) unless this sorts
   * after the last one the stream took. Writers that coordinate by it never store a batch twice.
   */
  streamSeq?: string
}

/**
 * A range of history, in ms since the epoch, both ends included. Without `to`, the history runs
 * on into the live tail: every entry from `from`, then every new one as it is appended.
 */
export interface HistoryRange {
  from: number
  to?: number
  /** Ends the history with the signal's reason as its error when aborted; unsubscribing ends it too. */
  signal?: AbortSignal
}

/** A point of history a window is asked for by: a time (`'now'` for the head) or a seq. */
export type WindowPoint = { at: number | 'now' } | { seq: number }

/** Options of a call that waits. */
export interface CallOptions {
  /** Stops waiting when aborted: the call rejects with the signal's reason (a fetch others share goes on). */
  signal?: AbortSignal
}

export class StateStream<S = Json> {
  /** The stream's name. */
  readonly name: string
  readonly #core: () => StreamCore
  readonly #concurrency: number

  /** Made by `client.stream(name)`, which checked the name. */
  constructor(name: string, core: () => StreamCore, historyConcurrency: number) {
    this.name = name
    this.#core = core
    this.#concurrency = historyConcurrency
  }

  /**
   * The shared live cursor: one connection however many subscribers, opened by the first and
   * closed when the last leaves. Emits the server's current state first (a held window behind
   * the head is caught up before anything is emitted; a late subscriber gets the latest
   * emission), then `{ seq, ts, state, entry }` per change, in order, exactly once, across
   * reconnections. Errors only on a refusal (stream deleted or missing, access denied).
   */
  get live$(): Observable<LiveState<S>> {
    return defer(() => this.#core().live$) as Observable<LiveState<S>>
  }

  /** The live cursor's connection status: connecting | live | reconnecting | closed. */
  get status$(): Observable<LiveStatus> {
    return this.#held((core) => core.status$)
  }

  /** The held windows, time-ordered, with their status; re-emitted on every change. */
  get windows$(): Observable<readonly WindowView[]> {
    return this.#held((core) => core.store.windows$)
  }

  /** Creates the stream as a state stream (`created: false` when it exists with the same configuration). */
  async create(options: CreateOptions = {}): Promise<{ created: boolean }> {
    const headers: Record<string, string> = { 'content-type': JSON_CONTENT_TYPE, [HEADERS.streamKind]: STATE_KIND }
    const policy = options.snapshot ?? {}
    if (policy.entries !== undefined) headers[HEADERS.snapshotEntries] = String(policy.entries)
    if (policy.bytes !== undefined) headers[HEADERS.snapshotBytes] = String(policy.bytes)
    if (policy.ms !== undefined) headers[HEADERS.snapshotMs] = String(policy.ms)
    if (options.createdAt !== undefined) headers[HEADERS.streamCreatedAt] = String(options.createdAt)
    Object.assign(headers, expiryHeaders(options))
    const body = options.messages === undefined ? {} : { body: JSON.stringify(options.messages) }
    const request = { method: 'PUT', headers, ...body, signal: options.signal }
    const response = await this.#use((core) => core.request<undefined>(`${ROUTES.stream}${this.name}`, request))
    return { created: response.status === 201 }
  }

  /** Deletes the stream and everything held of it. */
  async delete(options: CallOptions = {}): Promise<void> {
    await this.#use(async (core) => {
      const tries = { attempts: 0 }
      try {
        await core.request<undefined>(`${ROUTES.stream}${this.name}`, { method: 'DELETE', signal: options.signal }, tries)
      } catch (err) {
        // A retry whose first attempt did delete it finds nothing: that is done too.
        if ((err as { code?: unknown }).code !== ErrorCode.STREAM_NOT_FOUND || tries.attempts < 2) throw err
      }
      core.store.clear()
    })
  }

  /** The state at `ts` (ms): `undefined` before the stream existed. Answered from held windows when they cover `ts`. */
  async stateAt(ts: number, options: CallOptions = {}): Promise<S | undefined> {
    return (await this.snapshotAt(ts, options))?.state
  }

  /** Like `stateAt`, with the seq and ts of the last entry the state includes. */
  async snapshotAt(ts: number, options: CallOptions = {}): Promise<Snapshot<S> | undefined> {
    assertTime('ts', ts)
    return (await this.#use((core) => abortable(options.signal, () => core.store.stateAt(ts)))) as Snapshot<S> | undefined
  }

  /** The window covering a time, the head (`{ at: 'now' }`) or a seq; fetched only if not held. */
  async window(point: WindowPoint, options: CallOptions = {}): Promise<Window<S>> {
    assertWindowPoint(point)
    const at: Point = 'at' in point && point.at === 'now' ? { at: AT_HEAD } : (point as Point)
    return (await this.#use((core) => abortable(options.signal, () => core.store.window(at)))) as Window<S>
  }

  /**
   * The history over `[from, to]`: first the state at `from` (or at creation, if later), then
   * `{ seq, ts, state, entry }` for every entry with `from < ts ≤ to`. Only windows not held are
   * fetched, several at once (bounded); nothing is fetched when held windows cover the range: a
   * `to` before the last held entry of the open window, inside held closed windows, in a tailed
   * window, or anywhere past a closed stream's end. A range that reaches the last held entry of an
   * open window nobody tails (or later) asks what the server added since: a listing of the
   * range's windows, and only the entries after the held ones.
   * Without `to` it does not complete: after the last entry held it goes on with the live cursor,
   * each new entry once. An abort of `signal` ends it with the signal's reason as its error.
   */
  history(range: HistoryRange): Observable<HistoryState<S>> {
    const steps = defer(() => {
      assertTime('from', range.from)
      if (range.to !== undefined) assertTime('to', range.to)
      return history(this.#core(), range, { concurrency: this.#concurrency })
    }) as Observable<HistoryState<S>>
    const signal = range.signal
    if (signal === undefined) return steps
    return new Observable<HistoryState<S>>((subscriber) => {
      const stop = (): void => subscriber.error(signal.reason)
      if (signal.aborted) return stop()
      signal.addEventListener('abort', stop, { once: true })
      const subscription = steps.subscribe(subscriber)
      return () => {
        signal.removeEventListener('abort', stop)
        subscription.unsubscribe()
      }
    })
  }

  /**
   * Appends a mutation or an atomic batch, exactly once even when the request is retried. An
   * abort before it is sent stores nothing; one while it is on its way may or may not store it.
   */
  append(messages: Message | readonly Message[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#use((core) => core.producer.append(messages, options.signal, options.streamSeq))
  }

  /** Closes the stream: its state is final, its open window closes at the last entry, appends are refused. */
  async close(options: CallOptions = {}): Promise<void> {
    await this.#use((core) =>
      core.request<undefined>(`${ROUTES.stream}${this.name}`, {
        method: 'POST',
        headers: { 'content-type': JSON_CONTENT_TYPE, [HEADERS.streamClosed]: 'true' },
        signal: options.signal,
      }),
    )
  }

  /**
   * Forks the stream into the new state stream `name`, whose history up to `point` is this one's
   * (shared by the server, not copied): after entry `seq`, or after the last entry with ts ≤ `at`.
   * It diverges from there. `created: false` when that very fork exists already.
   */
  async fork(name: string, point: { seq: number } | { at: number }, options: CallOptions = {}): Promise<{ created: boolean }> {
    assertStreamName(name)
    assertWindowPoint(point)
    const response = await this.#use((core) => {
      const headers = {
        [HEADERS.forkedFrom]: `${core.transport.basePath}${ROUTES.stream}${this.name}`,
        ...('seq' in point ? { [HEADERS.forkOffset]: encodeOffset(point.seq) } : { [HEADERS.forkAt]: String(point.at) }),
      }
      return core.request<undefined>(`${ROUTES.stream}${name}`, { method: 'PUT', headers, signal: options.signal })
    })
    return { created: response.status === 201 }
  }

  /** The stream's configuration and head (`HEAD`): kind, content type, seq, closed, snapshot policy. */
  info(options: CallOptions = {}): Promise<StreamInfo> {
    return this.#use((core) => readStreamInfo((path, request) => core.request(path, request), this.name, options.signal))
  }

  /** The layout of the windows over a range (all of them by default): bounds, entry counts and bytes, no entries. */
  windowBounds(range: WindowRange & CallOptions = {}): Promise<WindowBounds[]> {
    return this.#use((core) => readWindowBounds((path, request) => core.request(path, request), this.name, range, range.signal))
  }

  /**
   * Stores `state` as the stream's new state (nothing when equal). Safe to retry: a retry finds the
   * state its first attempt stored, and answers `stored: false` (see the README).
   */
  async set(state: S, options: CallOptions = {}): Promise<{ stored: boolean; seq: number; ts: number }> {
    const response = await this.#use((core) =>
      core.request<{ stored: boolean; seq: number; ts: number }>(`${ROUTES.state}${this.name}`, {
        method: 'PUT',
        headers: { 'content-type': JSON_CONTENT_TYPE },
        body: JSON.stringify(state),
        signal: options.signal,
      }),
    )
    return response.body
  }

  #use<T>(call: (core: StreamCore) => Promise<T>): Promise<T> {
    let core: StreamCore
    try {
      core = this.#core()
    } catch (err) {
      // A closed client: the call's promise rejects, it does not throw.
      return Promise.reject(err)
    }
    return core.using(() => call(core))
  }

  /** An observable of the core's, holding the core in use while subscribed. */
  #held<T>(select: (core: StreamCore) => Observable<T>): Observable<T> {
    return defer(() => {
      const core = this.#core()
      const release = core.use()
      return select(core).pipe(finalize(release))
    })
  }
}

/**
 * A time of history is ms since the epoch: a non-negative integer, as the server takes it. Checked
 * before anything held is looked at, so that a bad one (a `NaN` from a failed `Date.parse`) is
 * refused whatever the client holds, never answered with some state.
 */
export function assertTime(what: string, value: unknown): void {
  if (isCount(value)) return
  throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${what}" must be a non-negative integer (ms since the epoch), got ${describe(value)}`)
}

/** A point of history: `{ at }` (a time, or `'now'` where allowed) or `{ seq }` (a non-negative integer). */
function assertWindowPoint(point: unknown): void {
  const given = (point ?? {}) as { at?: unknown; seq?: unknown }
  if ('at' in given) {
    if (given.at !== 'now') assertTime('at', given.at)
    return
  }
  if (isCount(given.seq)) return
  throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `a point is { at } or { seq }, seq a non-negative integer; got ${'seq' in given ? describe(given.seq) : 'neither'}`)
}

/** A non-negative integer, as the server's query parameters take them. */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value.slice(0, 32)) : String(value)
}

/**
 * `start()`'s promise, or a rejection with the signal's reason as soon as it aborts (at once,
 * without starting, when it already has). The work behind the promise goes on (others may share
 * it); only this caller stops waiting.
 */
function abortable<T>(signal: AbortSignal | undefined, start: () => Promise<T>): Promise<T> {
  if (signal === undefined) return start()
  if (signal.aborted) return Promise.reject(signal.reason)
  const promise = start()
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => reject(signal.reason)
    signal.addEventListener('abort', stop, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop))
  })
}
