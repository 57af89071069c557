/**
 * One live tail of one stream: the connection loop behind `live$`. It reads `/v1/live/<name>`,
 * applies each entry to the head state, feeds the window store, and when the connection drops
 * (a cut, a silent stall caught by the watchdog, a server that asks readers to come back) it
 * waits a jittered backoff and resumes with `?after=` the last seq it applied. Subscribers see no
 * gap, no duplicate and no error; only a fatal condition is passed on.
 *
 *                 start            connected            drop / stall / SLOW_READER
 *     closed ─────────────► connecting ─────► live ───────────────────────► reconnecting
 *        ▲                       │              ▲                                 │
 *        │ stop / fatal          │ fatal        └────────── reconnected ──────────┘
 *        └───────────────────────┴──────────────────────────────────────────────── (any state)
 */
import { ErrorCode, LIVE_EVENTS, QUERY, ROUTES, StateStreamError, apply } from '@statestream/common'
import type { Bound, Entry, Json, Snapshot, WindowData } from '@statestream/common'
import type { BehaviorSubject } from 'rxjs'
import { Backoff, sleep } from './backoff.ts'
import type { BackoffOptions } from './backoff.ts'
import { isRetryable, retryAfterMs, toNetworkError } from './http.ts'
import type { HttpClient } from './http.ts'
import { readSse } from './sse-reader.ts'
import type { SseEvent } from './sse-reader.ts'
import type { WindowStore } from './window-store.ts'

/** Connection status of a live cursor. */
export const LiveStatus = {
  /** Opening the first connection. */
  connecting: 'connecting',
  /** Connected and up to date as far as the server has told. */
  live: 'live',
  /** The connection dropped; waiting out the backoff or reconnecting. Held state stays valid. */
  reconnecting: 'reconnecting',
  /** Not tailing: no subscriber, a fatal error, or the client closed. */
  closed: 'closed',
} as const
export type LiveStatus = (typeof LiveStatus)[keyof typeof LiveStatus]

/** One emission of a live cursor: the state after entry `seq`; `entry` is the change, if any. */
export interface LiveState<S = Json> {
  seq: number
  ts: number
  state: S
  /** The entry that made this state; absent on the first emission (the current state). */
  entry?: Entry
}

/** Settings of live tails. */
export interface LiveOptions {
  /** Silence (no byte, not even a heartbeat) after which a connection is presumed dead, ms. Default 45 s. */
  watchdogMs: number
  /** Reconnection backoff. */
  backoff: BackoffOptions
}

/** Default watchdog: three of the server's default 15 s heartbeats. */
export const DEFAULT_WATCHDOG_MS = 45_000

/** Codes after which reconnecting cannot help. */
const FATAL = new Set<string>([
  ErrorCode.STREAM_DELETED,
  ErrorCode.STREAM_NOT_FOUND,
  ErrorCode.NOT_A_STATE_STREAM,
  ErrorCode.INVALID_STREAM_NAME,
  ErrorCode.NOT_FOUND,
  ErrorCode.BAD_REQUEST,
  ErrorCode.INVALID_PARAMETER,
])

/** True when `err` ends a tail for good. */
export function isFatal(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return typeof code === 'string' && (FATAL.has(code) || !isRetryable(err))
}

/** True when `err` says the stream no longer exists. */
export function isGone(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === ErrorCode.STREAM_DELETED || code === ErrorCode.STREAM_NOT_FOUND
}

/** Where a tail sends what it learns. */
export interface TailSink<S> {
  next(value: LiveState<S>): void
  error(err: unknown): void
}

export class LiveTail<S = Json> {
  readonly #http: HttpClient
  readonly #name: string
  readonly #store: WindowStore
  readonly #status$: BehaviorSubject<LiveStatus>
  readonly #options: LiveOptions
  readonly #sink: TailSink<S>
  readonly #abort = new AbortController()
  readonly #backoff: Backoff
  #head: Snapshot | undefined
  #tailed = false

  constructor(http: HttpClient, name: string, store: WindowStore, status$: BehaviorSubject<LiveStatus>, options: LiveOptions, sink: TailSink<S>) {
    this.#http = http
    this.#name = name
    this.#store = store
    this.#status$ = status$
    this.#options = options
    this.#sink = sink
    this.#backoff = new Backoff(options.backoff)
  }

  /** Starts the loop; the current state is emitted at once when held data has it. */
  start(): void {
    this.#head = this.#store.resumePoint()
    if (this.#head !== undefined) this.#emit(this.#head, undefined)
    this.#setStatus(LiveStatus.connecting)
    void this.#run()
  }

  /** Stops the loop and closes the connection. */
  stop(): void {
    this.#abort.abort(new StateStreamError(ErrorCode.CLOSED, 'the live cursor was stopped'))
    this.#untail()
    this.#setStatus(LiveStatus.closed)
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      let failure: unknown
      try {
        await this.#connect(signal)
      } catch (err) {
        // Socket errors arrive raw from the body stream: every failure is judged by its code.
        failure = toNetworkError(err)
      }
      this.#untail()
      if (signal.aborted) return
      // An in-band refusal (a token that expired while connected): `onError` may give new headers.
      if (failure !== undefined && isFatal(failure) && (await this.#http.recover(failure))) continue
      if (signal.aborted) return
      if (failure !== undefined && isFatal(failure)) {
        // What is held of a deleted stream must not mix with a stream later made under its name.
        if (isGone(failure)) this.#store.clear()
        this.#setStatus(LiveStatus.closed)
        this.#sink.error(failure)
        return
      }
      this.#setStatus(LiveStatus.reconnecting)
      try {
        await sleep(this.#backoff.next(failure === undefined ? 0 : (retryAfterMs(failure) ?? 0)), signal)
      } catch {
        return
      }
    }
  }

  /** One connection, until it ends or fails. */
  async #connect(signal: AbortSignal): Promise<void> {
    const resume = this.#head
    const query = resume === undefined ? '' : `?${QUERY.after}=${resume.seq}`
    const response = await this.#http.stream(`${ROUTES.live}${this.#name}${query}`, {
      signal,
      headers: { accept: 'text/event-stream' },
    })
    if (resume !== undefined) this.#tail()
    await readSse(response.body, (event) => this.#handle(event), this.#options.watchdogMs)
  }

  #handle(event: SseEvent): void {
    // Anything from the server proves the connection works: later failures start a fresh backoff.
    this.#backoff.reset()
    switch (event.event) {
      case LIVE_EVENTS.window: {
        const data = JSON.parse(event.data) as WindowData
        this.#store.liveWindow(data, event.data.length)
        const first = data.entries[0]
        const last = data.entries[data.entries.length - 1]
        if (first !== undefined && last !== undefined) {
          this.#http.trace({ type: 'entries', stream: this.#name, source: 'live', count: data.entries.length, first: first.seq, last: last.seq })
        }
        if (data.start !== null) {
          let head: Snapshot = { seq: data.start.seq, ts: data.start.ts, state: data.start.state }
          for (const entry of data.entries) head = { seq: entry.seq, ts: entry.ts, state: apply(head.state, entry.m) }
          // A window is the first event of a fresh connection: it is the current state.
          if (this.#head === undefined || head.seq !== this.#head.seq) this.#emit(head, undefined)
          this.#head = head
        }
        this.#tail()
        return
      }
      case LIVE_EVENTS.entry: {
        const entry = JSON.parse(event.data) as Entry
        const head = this.#head
        if (head === undefined) throw new StateStreamError(ErrorCode.NETWORK, 'an entry came before the window')
        if (entry.seq <= head.seq) return
        if (entry.seq !== head.seq + 1) {
          throw new StateStreamError(ErrorCode.NETWORK, `entry ${entry.seq} skips entries after ${head.seq}; resuming`)
        }
        this.#feed(() => this.#store.liveEntry({ seq: entry.seq, ts: entry.ts, m: entry.m }, event.data.length))
        this.#head = { seq: entry.seq, ts: entry.ts, state: apply(head.state, entry.m) }
        this.#http.trace({ type: 'entries', stream: this.#name, source: 'live', count: 1, first: entry.seq, last: entry.seq })
        this.#emit(this.#head, entry)
        return
      }
      case LIVE_EVENTS.bound: {
        const bound = JSON.parse(event.data) as Bound
        this.#feed(() => this.#store.liveBound(bound))
        return
      }
      case LIVE_EVENTS.error: {
        const body = JSON.parse(event.data) as { error?: { code?: string; message?: string } }
        const code = (body.error?.code ?? ErrorCode.NETWORK) as ErrorCode
        throw new StateStreamError(code, body.error?.message ?? 'the live connection failed')
      }
      default:
        // Heartbeats (and anything newer than this client) only keep the watchdog quiet.
        return
    }
  }

  /** Feeds the window store; a store that cannot place the data loses a window, not the tail. */
  #feed(update: () => void): void {
    try {
      update()
    } catch (err) {
      if ((err as { name?: unknown }).name !== 'StateStreamError') throw err
    }
  }

  #emit(head: Snapshot, entry: Entry | undefined): void {
    const value: LiveState<S> = { seq: head.seq, ts: head.ts, state: head.state as S }
    if (entry !== undefined) value.entry = entry
    this.#sink.next(value)
  }

  #tail(): void {
    if (!this.#tailed) {
      this.#tailed = true
      this.#store.tailed()
    }
    this.#setStatus(LiveStatus.live)
  }

  #untail(): void {
    if (this.#tailed) {
      this.#tailed = false
      this.#store.untailed()
    }
  }

  #setStatus(status: LiveStatus): void {
    if (this.#status$.value === status) return
    this.#status$.next(status)
    this.#http.trace({ type: 'status', stream: this.#name, status })
  }
}
