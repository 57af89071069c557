/**
 * `client.live([a, b, …])`: several state streams tailed over one connection
 * (`/v1/live?stream=a&stream=b`), with the server-wide clock. Each entry carries its global
 * position (`gpos`); a dropped connection resumes with `Last-Event-ID` = the last gpos received,
 * so nothing is re-sent and nothing is missed. Each stream's windows land in that stream's store,
 * so `client.stream(a).stateAt(…)` answers from what this connection brought.
 */
import { ErrorCode, HEADERS, LIVE_EVENTS, QUERY, ROUTES, StateStreamError, apply } from '@statestream/common'
import type { Bound, Entry, Json, Mutation, Snapshot, WindowData } from '@statestream/common'
import { BehaviorSubject, Observable, defer, filter, map, share, startWith } from 'rxjs'
import { Backoff, sleep } from './backoff.ts'
import type { HttpClient } from './http.ts'
import { LiveStatus, isFatal } from './live-tail.ts'
import type { LiveOptions, LiveState } from './live-tail.ts'
import { retryAfterMs, toNetworkError } from './http.ts'
import { readSse } from './sse-reader.ts'
import type { SseEvent } from './sse-reader.ts'
import type { WindowStore } from './window-store.ts'

/** One change of one of the streams: the state after entry `seq` of `stream`. */
export interface MultiLiveState<S = Json> extends LiveState<S> {
  stream: string
  /** Global position of the entry (or of the read that gave the first state). */
  gpos: number
}

/** A tick of the server-wide clock: `gpos` entries appended to all streams as of server time `ts`. */
export interface ClockTick {
  gpos: number
  ts: number
}

type MultiEvent<S> = { type: 'state'; value: MultiLiveState<S> } | { type: 'clock'; value: ClockTick }

/** Several live streams over one shared connection. */
export class MultiLive<S = Json> {
  /** The streams tailed, in the order given. */
  readonly streams: readonly string[]
  /**
   * Every change of every stream: first each stream's current state, then each entry in gpos
   * order. Shared: one connection however many subscribers (of this and of `clock$`).
   */
  readonly states$: Observable<MultiLiveState<S>>
  /** The server-wide clock: how far the whole server has advanced. */
  readonly clock$: Observable<ClockTick>
  readonly #status$ = new BehaviorSubject<LiveStatus>(LiveStatus.closed)
  /** Each stream's current state, kept by the open connection. */
  readonly #current = new Map<string, MultiLiveState<S>>()

  constructor(http: HttpClient, streams: readonly string[], stores: (name: string) => WindowStore, options: LiveOptions, track: (end: () => void) => () => void) {
    this.streams = [...streams]
    const events$ = new Observable<MultiEvent<S>>((subscriber) => {
      const connection = new MultiConnection<S>(http, this.streams, stores, this.#status$, options, subscriber, this.#current)
      const untrack = track(() => subscriber.complete())
      connection.start()
      return () => {
        untrack()
        connection.stop()
      }
    }).pipe(share({ resetOnRefCountZero: true }))
    // A late subscriber first gets each stream's current state; nothing can arrive in between,
    // since reading the states and joining the shared connection happen in one synchronous step.
    this.states$ = defer(() =>
      events$.pipe(
        filter((event): event is Extract<MultiEvent<S>, { type: 'state' }> => event.type === 'state'),
        map((event) => event.value),
        startWith(...this.#current.values()),
      ),
    )
    this.clock$ = events$.pipe(
      filter((event): event is Extract<MultiEvent<S>, { type: 'clock' }> => event.type === 'clock'),
      map((event) => event.value),
    )
  }

  /** Status of the shared connection. */
  get status$(): Observable<LiveStatus> {
    return this.#status$.asObservable()
  }
}

class MultiConnection<S> {
  readonly #http: HttpClient
  readonly #streams: readonly string[]
  readonly #stores: (name: string) => WindowStore
  readonly #status$: BehaviorSubject<LiveStatus>
  readonly #options: LiveOptions
  readonly #sink: { next(event: MultiEvent<S>): void; error(err: unknown): void }
  readonly #abort = new AbortController()
  readonly #backoff: Backoff
  readonly #heads = new Map<string, Snapshot>()
  readonly #current: Map<string, MultiLiveState<S>>
  readonly #tailed = new Set<string>()
  #lastId: string | undefined

  constructor(
    http: HttpClient,
    streams: readonly string[],
    stores: (name: string) => WindowStore,
    status$: BehaviorSubject<LiveStatus>,
    options: LiveOptions,
    sink: { next(event: MultiEvent<S>): void; error(err: unknown): void },
    current: Map<string, MultiLiveState<S>>,
  ) {
    this.#current = current
    current.clear()
    this.#http = http
    this.#streams = streams
    this.#stores = stores
    this.#status$ = status$
    this.#options = options
    this.#sink = sink
    this.#backoff = new Backoff(options.backoff)
  }

  start(): void {
    this.#status$.next(LiveStatus.connecting)
    void this.#run()
  }

  stop(): void {
    this.#abort.abort(new StateStreamError(ErrorCode.CLOSED, 'the live connection was stopped'))
    this.#untail()
    this.#status$.next(LiveStatus.closed)
  }

  async #run(): Promise<void> {
    const signal = this.#abort.signal
    while (!signal.aborted) {
      let failure: unknown
      try {
        const query = this.#streams.map((name) => `${QUERY.stream}=${name}`).join('&')
        const headers: Record<string, string> = { accept: 'text/event-stream' }
        if (this.#lastId !== undefined) headers[HEADERS.lastEventId] = this.#lastId
        const response = await this.#http.stream(`${ROUTES.liveMulti}?${query}`, { signal, headers })
        if (this.#lastId !== undefined) this.#tail()
        await readSse(response.body, (event) => this.#handle(event), this.#options.watchdogMs)
      } catch (err) {
        // Socket errors arrive raw from the body stream: every failure is judged by its code.
        failure = toNetworkError(err)
      }
      this.#untail()
      if (signal.aborted) return
      if (failure !== undefined && isFatal(failure)) {
        this.#status$.next(LiveStatus.closed)
        this.#sink.error(failure)
        return
      }
      this.#status$.next(LiveStatus.reconnecting)
      try {
        await sleep(this.#backoff.next(failure === undefined ? 0 : (retryAfterMs(failure) ?? 0)), signal)
      } catch {
        return
      }
    }
  }

  #handle(event: SseEvent): void {
    this.#backoff.reset()
    switch (event.event) {
      case LIVE_EVENTS.window: {
        const data = JSON.parse(event.data) as WindowData
        const gpos = Number(event.id ?? 0)
        this.#stores(data.stream).liveWindow(data, event.data.length)
        const first = data.entries[0]
        const last = data.entries[data.entries.length - 1]
        if (first !== undefined && last !== undefined) {
          this.#http.trace({ type: 'entries', stream: data.stream, source: 'live', count: data.entries.length, first: first.seq, last: last.seq })
        }
        if (data.start !== null) {
          let head: Snapshot = { seq: data.start.seq, ts: data.start.ts, state: data.start.state }
          for (const entry of data.entries) head = { seq: entry.seq, ts: entry.ts, state: apply(head.state, entry.m) }
          const known = this.#heads.get(data.stream)
          if (known === undefined || known.seq < head.seq) {
            this.#heads.set(data.stream, head)
            this.#emitState(data.stream, head, gpos, undefined)
          }
        }
        this.#remember(event.id)
        // The connection is live once every stream's window has arrived.
        if (this.#heads.size === this.#streams.length) this.#tail()
        return
      }
      case LIVE_EVENTS.entry: {
        const entry = JSON.parse(event.data) as { stream: string; seq: number; ts: number; m: Mutation; gpos: number }
        const head = this.#heads.get(entry.stream)
        if (head === undefined) throw new StateStreamError(ErrorCode.NETWORK, `an entry of "${entry.stream}" came before its window`)
        if (entry.seq <= head.seq) return this.#remember(event.id)
        if (entry.seq !== head.seq + 1) throw new StateStreamError(ErrorCode.NETWORK, `entry ${entry.seq} of "${entry.stream}" skips entries`)
        const plain: Entry = { seq: entry.seq, ts: entry.ts, m: entry.m }
        this.#http.trace({ type: 'entries', stream: entry.stream, source: 'live', count: 1, first: entry.seq, last: entry.seq })
        try {
          this.#stores(entry.stream).liveEntry(plain, event.data.length)
        } catch {
          // The store lost track of the window: the state below stays right; only a later refetch may happen.
        }
        const next = { seq: entry.seq, ts: entry.ts, state: apply(head.state, entry.m) }
        this.#heads.set(entry.stream, next)
        this.#emitState(entry.stream, next, entry.gpos, plain)
        this.#remember(event.id)
        return
      }
      case LIVE_EVENTS.bound: {
        const bound = JSON.parse(event.data) as Bound & { stream: string }
        try {
          this.#stores(bound.stream).liveBound({ seq: bound.seq, ts: bound.ts })
        } catch {
          // As above: held windows are an optimisation; the tail goes on.
        }
        return
      }
      case LIVE_EVENTS.clock: {
        const tick = JSON.parse(event.data) as ClockTick
        this.#sink.next({ type: 'clock', value: { gpos: tick.gpos, ts: tick.ts } })
        return
      }
      case LIVE_EVENTS.error: {
        const body = JSON.parse(event.data) as { error?: { code?: string; message?: string } }
        throw new StateStreamError((body.error?.code ?? ErrorCode.NETWORK) as ErrorCode, body.error?.message ?? 'the live connection failed')
      }
      default:
        return
    }
  }

  #remember(id: string | undefined): void {
    if (id !== undefined && id !== '') this.#lastId = id
  }

  #emitState(stream: string, head: Snapshot, gpos: number, entry: Entry | undefined): void {
    const value: MultiLiveState<S> = { stream, gpos, seq: head.seq, ts: head.ts, state: head.state as S }
    if (entry !== undefined) value.entry = entry
    this.#current.set(stream, value)
    this.#sink.next({ type: 'state', value })
  }

  #tail(): void {
    for (const name of this.#streams) {
      if (!this.#tailed.has(name)) {
        this.#tailed.add(name)
        this.#stores(name).tailed()
      }
    }
    if (this.#status$.value !== LiveStatus.live) this.#status$.next(LiveStatus.live)
  }

  #untail(): void {
    for (const name of this.#tailed) this.#stores(name).untailed()
    this.#tailed.clear()
  }
}
