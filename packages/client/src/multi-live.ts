/**
 * `client.live([a, b, …])`: several state streams tailed over one connection
 * (`/v1/live?stream=a&stream=b`), with the server-wide clock. Each entry carries its global
 * position (`gpos`); a dropped connection resumes with `Last-Event-ID` = the last gpos received,
 * so nothing is re-sent and nothing is missed. Each stream's windows land in that stream's store,
 * so `client.stream(a).stateAt(…)` answers from what this connection brought.
 *
 * Never refetch: a stream whose store already holds its open window (a `live$` tail, a
 * `window({ at })`, an earlier `live([…])`) is asked for as `a@<last held seq>`, so the server sends
 * only its entries after that seq, not the window again. The same holds when a connection has to
 * start over without a gpos (it dropped before its initial data was complete): every stream is
 * asked for from the head this connection already applied.
 *
 *             start           initial data complete (last window, or the clock)
 *     closed ──────► connecting ─────────────────────────► live ── drop ──► reconnecting
 *                        ▲                                                       │
 *                        └── complete before? Last-Event-ID : <name>@<seq> ──────┘
 */
import { ErrorCode, HEADERS, LIVE_EVENTS, QUERY, ROUTES, STREAM_RESUME_SEPARATOR, StateStreamError, apply } from '@statestream/common'
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
   * Every change of every stream, gpos never decreasing: each stream's first value is its current
   * state (no `entry`), then comes each of its entries. Shared: one connection however many
   * subscribers (of this and of `clock$`).
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
  /** Streams whose head came from held data and has not been emitted yet. */
  readonly #unannounced = new Set<string>()
  /** Streams of the current connection whose window has not arrived. */
  #awaiting = new Set<string>()
  /** Whether the current connection named held streams (`<name>@<seq>`): its initial data then ends with a clock. */
  #pointed = false
  /**
   * Whether every stream has all entries up to `#lastId` and none after it, so a gpos resume
   * re-sends nothing: true once a connection's initial data was complete.
   */
  #complete = false
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
        const byGpos = this.#lastId !== undefined && this.#complete
        const held = byGpos ? new Map<string, number>() : this.#heldSeqs()
        const query = this.#streams
          .map((name) => {
            const seq = held.get(name)
            return `${QUERY.stream}=${seq === undefined ? name : `${name}${STREAM_RESUME_SEPARATOR}${seq}`}`
          })
          .join('&')
        const headers: Record<string, string> = { accept: 'text/event-stream' }
        if (byGpos) headers[HEADERS.lastEventId] = this.#lastId as string
        this.#awaiting = new Set(byGpos ? [] : this.#streams.filter((name) => !held.has(name)))
        this.#pointed = held.size > 0
        const response = await this.#http.stream(`${ROUTES.liveMulti}?${query}`, { signal, headers })
        // Nothing to wait for before following: every stream resumes from what is held.
        if (this.#awaiting.size === 0) this.#tail()
        await readSse(response.body, (event) => this.#handle(event), this.#options.watchdogMs)
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
        this.#awaiting.delete(data.stream)
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
          if (known === undefined || known.seq < head.seq || this.#unannounced.has(data.stream)) {
            this.#unannounced.delete(data.stream)
            this.#heads.set(data.stream, head)
            this.#emitState(data.stream, head, gpos, undefined)
          }
        }
        this.#remember(event.id)
        // Windows come after every catch-up entry: the held states are current at their gpos.
        this.#announce(gpos)
        // The connection is live once every stream's window has arrived. Without held streams
        // that is all its initial data; with them, the clock that follows says so.
        if (this.#awaiting.size === 0) {
          if (!this.#pointed) this.#complete = true
          this.#tail()
        }
        return
      }
      case LIVE_EVENTS.entry: {
        const entry = JSON.parse(event.data) as { stream: string; seq: number; ts: number; m: Mutation; gpos: number }
        const head = this.#heads.get(entry.stream)
        if (head === undefined || entry.seq > head.seq + 1) {
          // Start over from each stream's own head, not from a gpos that does not fit them all.
          this.#complete = false
          const problem = head === undefined ? 'came before its window' : `skips entries after ${head.seq}`
          throw new StateStreamError(ErrorCode.NETWORK, `entry ${entry.seq} of "${entry.stream}" ${problem}`)
        }
        if (entry.seq <= head.seq) return this.#remember(event.id)
        // Its first entry on this connection: the held state was current just before it.
        if (this.#unannounced.delete(entry.stream)) this.#emitState(entry.stream, head, entry.gpos - 1, undefined)
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
        // A clock comes only after the initial data: every held stream is at its head.
        this.#announce(tick.gpos)
        this.#complete = true
        this.#tail()
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

  /**
   * The seq each stream is asked for from (`<name>@<seq>`), for a connection that does not resume
   * by gpos: the head this connection applied, or else the store's held open window (which a
   * `live$` or a fetch may have brought further since the last try). Streams without either get
   * their window.
   */
  #heldSeqs(): Map<string, number> {
    const held = new Map<string, number>()
    for (const name of this.#streams) {
      if (!this.#heads.has(name) || this.#unannounced.has(name)) {
        const point = this.#stores(name).resumePoint()
        if (point === undefined) {
          this.#heads.delete(name)
          this.#unannounced.delete(name)
        } else {
          this.#heads.set(name, point)
          this.#unannounced.add(name)
        }
      }
      const head = this.#heads.get(name)
      if (head !== undefined) held.set(name, head.seq)
    }
    return held
  }

  /** Emits the held states not emitted yet as current at `gpos`: no entry of theirs came before it. */
  #announce(gpos: number): void {
    for (const name of this.#unannounced) {
      const head = this.#heads.get(name)
      if (head !== undefined) this.#emitState(name, head, gpos, undefined)
    }
    this.#unannounced.clear()
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
