/**
 * `client.stream(name)`: one remote state stream as a reader and writer sees it — its held
 * windows, its history, its shared live cursor, and its writes.
 */
import {
  HEADERS,
  JSON_CONTENT_TYPE,
  QUERY,
  ROUTES,
  STATE_KIND,
  apply,
  assertStreamName,
} from '@statestream/common'
import type { Bound, Json, Message, Snapshot, SnapshotPolicy, WindowBounds, WindowData } from '@statestream/common'
import { BehaviorSubject, Observable, ReplaySubject, share } from 'rxjs'
import { Backoff, sleep } from './backoff.ts'
import { isRetryable, retryAfterMs } from './http.ts'
import type { HttpClient, JsonResponse } from './http.ts'
import { LiveStatus, LiveTail } from './live-tail.ts'
import type { LiveOptions, LiveState } from './live-tail.ts'
import { IdempotentProducer } from './producer.ts'
import type { AppendResult, ProducerOptions } from './producer.ts'
import { WindowStore } from './window-store.ts'
import type { Point, Window, WindowView } from './window-store.ts'

/** Options of one stream handle (the client passes its own). */
export interface StateStreamOptions {
  live: LiveOptions
  producer: ProducerOptions
  /** Memory budget of this stream's committed windows, bytes. */
  maxWindowBytes?: number
  /** Window fetches a `history` runs at once. */
  historyConcurrency: number
  /** Attempts per window fetch before a network failure is reported. */
  fetchAttempts: number
  /** Called with every subscriber of `live$`, so the client can end them on `close()`. */
  track: (end: () => void) => () => void
}

/** Options of `create()`. */
export interface CreateOptions {
  /** Snapshot policy of the new stream (the server's defaults for what is left out). */
  snapshot?: Partial<SnapshotPolicy>
  /** First messages, e.g. `[{ set: initial }]`. */
  messages?: readonly Message[]
}

/** A range of history, in ms since the epoch, both ends included. */
export interface HistoryRange {
  from: number
  to: number
}

/** One step of `history()`: the state after entry `seq`; `entry` is absent on the first (the state at `from`). */
export type HistoryState<S = Json> = LiveState<S>

export class StateStream<S = Json> {
  /** The stream's name. */
  readonly name: string
  /**
   * The shared live cursor: one connection however many subscribers, opened by the first and
   * closed when the last leaves. Emits the current state first (a late subscriber gets the
   * latest emission), then `{ seq, ts, state, entry }` per change, in order, exactly once, across
   * reconnections. Errors only on a fatal condition (stream deleted or missing).
   */
  readonly live$: Observable<LiveState<S>>
  readonly #http: HttpClient
  readonly #store: WindowStore
  readonly #status$ = new BehaviorSubject<LiveStatus>(LiveStatus.closed)
  readonly #producer: IdempotentProducer
  readonly #options: StateStreamOptions

  constructor(http: HttpClient, name: string, options: StateStreamOptions) {
    this.name = assertStreamName(name)
    this.#http = http
    this.#options = options
    this.#producer = new IdempotentProducer(http, name, options.producer)
    this.#store = new WindowStore({
      fetch: (query) => this.#fetchWindow(query.point, query.after),
      ...(options.maxWindowBytes !== undefined && { maxBytes: options.maxWindowBytes }),
      onTransition: (view, removed) =>
        http.trace({
          type: 'window',
          stream: name,
          state: removed ? 'removed' : view.state,
          start: view.start?.seq ?? null,
          end: view.end?.seq ?? null,
        }),
    })
    this.live$ = new Observable<LiveState<S>>((subscriber) => {
      const tail = new LiveTail<S>(http, name, this.#store, this.#status$, options.live, subscriber)
      const untrack = options.track(() => subscriber.complete())
      tail.start()
      return () => {
        untrack()
        tail.stop()
      }
    }).pipe(
      share({
        // A late subscriber first gets the latest emission: the current state.
        connector: () => new ReplaySubject<LiveState<S>>(1),
        resetOnError: true,
        resetOnComplete: true,
        resetOnRefCountZero: true,
      }),
    )
  }

  /** The live cursor's connection status: connecting | live | reconnecting | closed. */
  get status$(): Observable<LiveStatus> {
    return this.#status$.asObservable()
  }

  /** The held windows, time-ordered, with their states; re-emitted on every change. */
  get windows$(): Observable<readonly WindowView[]> {
    return this.#store.windows$.asObservable()
  }

  /** Creates the stream as a state stream (`created: false` when it exists with the same kind). */
  async create(options: CreateOptions = {}): Promise<{ created: boolean }> {
    const headers: Record<string, string> = { 'content-type': JSON_CONTENT_TYPE, [HEADERS.streamKind]: STATE_KIND }
    const policy = options.snapshot ?? {}
    if (policy.entries !== undefined) headers[HEADERS.snapshotEntries] = String(policy.entries)
    if (policy.bytes !== undefined) headers[HEADERS.snapshotBytes] = String(policy.bytes)
    if (policy.ms !== undefined) headers[HEADERS.snapshotMs] = String(policy.ms)
    const response = await this.#http.json<undefined>(`${ROUTES.stream}${this.name}`, {
      method: 'PUT',
      headers,
      ...(options.messages !== undefined && { body: JSON.stringify(options.messages) }),
    })
    return { created: response.status === 201 }
  }

  /** Deletes the stream and everything held of it. */
  async delete(): Promise<void> {
    await this.#http.json<undefined>(`${ROUTES.stream}${this.name}`, { method: 'DELETE' })
    this.#store.clear()
  }

  /** The state at `ts` (ms): `undefined` before the stream existed. Answered from held windows when they cover `ts`. */
  async stateAt(ts: number): Promise<S | undefined> {
    return (await this.#store.stateAt(ts))?.state as S | undefined
  }

  /** Like `stateAt`, with the seq and ts of the last entry the state includes. */
  async snapshotAt(ts: number): Promise<Snapshot<S> | undefined> {
    return (await this.#store.stateAt(ts)) as Snapshot<S> | undefined
  }

  /** The window covering a time or a seq; fetched only if not held. */
  async window(point: Point): Promise<Window<S>> {
    return (await this.#store.window(point)) as Window<S>
  }

  /**
   * The history over `[from, to]`: first the state at `from` (or at creation, if later), then
   * `{ seq, ts, state, entry }` for every entry with `from < ts ≤ to`. Only windows not held are
   * fetched, several at once (bounded); nothing is fetched when held windows cover the range.
   */
  history(range: HistoryRange): Observable<HistoryState<S>> {
    return new Observable<HistoryState<S>>((subscriber) => {
      let cancelled = false
      void (async () => {
        const spans = await this.#spans(range)
        const starts = spans.map((span) => span.start.seq)
        const windows = limit(spans, this.#options.historyConcurrency, (span) => this.#store.windowFor(span))
        let head: Snapshot | undefined
        try {
          for (let i = 0; i < windows.length; i++) {
            const window = await (windows[i] as Promise<Window>)
            this.#store.release(starts[i] as number)
            if (cancelled) continue
            head = emitWindow(window, range, head, (value) => subscriber.next(value as HistoryState<S>))
          }
          if (!cancelled) subscriber.complete()
        } catch (err) {
          // Release the pins of windows still on their way, then tell the subscriber.
          windows.forEach((promise, i) => void promise.then(() => this.#store.release(starts[i] as number), () => undefined))
          if (!cancelled) subscriber.error(err)
        }
      })().catch((err: unknown) => {
        if (!cancelled) subscriber.error(err)
      })
      return () => {
        cancelled = true
      }
    })
  }

  /** Appends a mutation or an atomic batch, exactly once even when the request is retried. */
  append(messages: Message | readonly Message[]): Promise<AppendResult> {
    return this.#producer.append(messages)
  }

  /** Stores `state` as the stream's new state (nothing when equal). Safe to retry. */
  async set(state: S): Promise<{ stored: boolean; seq: number; ts: number }> {
    const response = await this.#http.json<{ stored: boolean; seq: number; ts: number }>(`${ROUTES.state}${this.name}`, {
      method: 'PUT',
      headers: { 'content-type': JSON_CONTENT_TYPE },
      body: JSON.stringify(state),
    })
    return response.body
  }

  /** The store behind this handle (for `client.live([...])`, which feeds it too). */
  storeOf(): WindowStore {
    return this.#store
  }

  /** The windows over `[from, to]`: from held data when it covers the range, else from a listing. */
  async #spans(range: HistoryRange): Promise<Array<{ start: Bound; end: Bound | null }>> {
    const held = this.#store.heldRange(range.from, range.to)
    if (held !== undefined) return held
    const response = await this.#http.json<{ windows: WindowBounds[] }>(
      `${ROUTES.windows}${this.name}?${QUERY.from}=${range.from}&${QUERY.to}=${range.to}`,
    )
    return response.body.windows.map((bounds) => ({ start: bounds.start, end: bounds.end }))
  }

  /** One window GET; retried on network failures (it is a read, so always safe to repeat). */
  async #fetchWindow(point: Point, after: number | undefined): Promise<{ data: WindowData; size: number }> {
    const query = 'at' in point ? `${QUERY.at}=${point.at}` : `${QUERY.seq}=${point.seq}`
    const suffix = after === undefined ? '' : `&${QUERY.after}=${after}`
    const path = `${ROUTES.window}${this.name}?${query}${suffix}`
    const backoff = new Backoff(this.#options.live.backoff)
    let response: JsonResponse<WindowData> | undefined
    for (let attempt = 1; response === undefined; attempt++) {
      try {
        response = await this.#http.json<WindowData>(path)
      } catch (err) {
        if (!isRetryable(err) || attempt >= this.#options.fetchAttempts) throw err
        await sleep(backoff.next(retryAfterMs(err) ?? 0))
      }
    }
    const data = response.body
    if (data.entries.length > 0) {
      const first = data.entries[0]?.seq ?? 0
      const last = data.entries[data.entries.length - 1]?.seq ?? 0
      this.#http.trace({ type: 'entries', stream: this.name, source: 'window', count: data.entries.length, first, last })
    }
    return { data, size: response.size }
  }
}

/** Emits the part of `window` inside `range`, continuing from `head`; returns the new head. */
function emitWindow(
  window: Window,
  range: HistoryRange,
  head: Snapshot | undefined,
  next: (value: LiveState) => void,
): Snapshot | undefined {
  if (window.start === null) return head
  let current = head
  if (current === undefined) {
    // The first window: start from the state at `from` (or the window's start, if later).
    current = { seq: window.start.seq, ts: window.start.ts, state: window.start.state }
    for (const entry of window.entries) {
      if (entry.ts > range.from) break
      current = { seq: entry.seq, ts: entry.ts, state: apply(current.state, entry.m) }
    }
    if (current.ts > range.to) return current
    next({ ...current })
  }
  for (const entry of window.entries) {
    if (entry.seq <= current.seq) continue
    if (entry.ts > range.to) break
    current = { seq: entry.seq, ts: entry.ts, state: apply(current.state, entry.m) }
    next({ ...current, entry })
  }
  return current
}

/** Starts `run` for every item with at most `concurrency` at once; the promises keep item order. */
function limit<T, R>(items: readonly T[], concurrency: number, run: (item: T) => Promise<R>): Promise<R>[] {
  let active = 0
  const queue: Array<() => void> = []
  const release = (): void => {
    active -= 1
    queue.shift()?.()
  }
  return items.map(
    (item) =>
      new Promise<R>((resolve, reject) => {
        const start = (): void => {
          active += 1
          run(item).then(resolve, reject).finally(release)
        }
        if (active < Math.max(1, concurrency)) start()
        else queue.push(start)
      }),
  )
}
