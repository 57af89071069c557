/**
 * `client.stream(name)`: one remote state stream as a reader and writer sees it — its held
 * windows, its history, its shared live cursor, and its writes.
 */
import {
  AT_NOW,
  ErrorCode,
  HEADERS,
  JSON_CONTENT_TYPE,
  QUERY,
  ROUTES,
  STATE_KIND,
  apply,
  assertStreamName,
  entriesUpToSeq,
  entriesUpToTs,
  replay,
} from '@statestream/common'
import type { Bound, Entry, Json, Message, Snapshot, SnapshotPolicy, WindowBounds, WindowData } from '@statestream/common'
import { BehaviorSubject, Observable, ReplaySubject, concat, defer, filter, share, tap } from 'rxjs'
import type { Subscriber } from 'rxjs'
import type { HttpClient, JsonResponse, RequestOptions } from './http.ts'
import { retrying } from './retry.ts'
import { LiveStatus, LiveTail } from './live-tail.ts'
import type { LiveOptions, LiveState } from './live-tail.ts'
import { IdempotentProducer } from './producer.ts'
import type { AppendResult, ProducerOptions } from './producer.ts'
import { readStreamInfo, readWindowBounds } from './stream-info.ts'
import type { StreamInfo, WindowRange } from './stream-info.ts'
import { WindowStore } from './window-store.ts'
import type { Point, Window, WindowView } from './window-store.ts'

/** The time `{ at: 'now' }` stands for inside the store: later than any entry, so its window is the open one. */
const AT_HEAD = Number.MAX_SAFE_INTEGER

/**
 * `promise`, or a rejection with the signal's reason as soon as it aborts. The work behind the
 * promise goes on (others may share it); only this caller stops waiting.
 */
function abortable<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(() => undefined)
    return Promise.reject(signal.reason)
  }
  return new Promise<T>((resolve, reject) => {
    const stop = (): void => reject(signal.reason)
    signal.addEventListener('abort', stop, { once: true })
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop))
  })
}

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
  /**
   * The stream's creation time (its seq-0 snapshot), ms since the epoch, not later than now.
   * Default: now. An import sets it to rebuild a stream exactly (its windows, its state at any T).
   */
  createdAt?: number
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
  /** Ends the history (it completes) when aborted; unsubscribing does the same. */
  signal?: AbortSignal
}

/** A point of history a window is asked for by: a time (`'now'` for the head) or a seq. */
export type WindowPoint = { at: number | 'now' } | { seq: number }

/** Options of a call that waits. */
export interface CallOptions {
  /** Stops waiting when aborted: the call rejects with the signal's reason (a fetch others share goes on). */
  signal?: AbortSignal
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
  /** Whether the last `#request` needed more than one attempt. */
  #retried = false

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
          status: removed ? 'removed' : view.status,
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
    if (options.createdAt !== undefined) headers[HEADERS.streamCreatedAt] = String(options.createdAt)
    const response = await this.#request<undefined>(`${ROUTES.stream}${this.name}`, {
      method: 'PUT',
      headers,
      ...(options.messages !== undefined && { body: JSON.stringify(options.messages) }),
    })
    return { created: response.status === 201 }
  }

  /** Deletes the stream and everything held of it. */
  async delete(): Promise<void> {
    await this.#request<undefined>(`${ROUTES.stream}${this.name}`, { method: 'DELETE' }).catch((err: unknown) => {
      // A retry whose first attempt did delete it finds nothing: that is done too.
      if ((err as { code?: unknown }).code !== ErrorCode.STREAM_NOT_FOUND || !this.#retried) throw err
    })
    this.#store.clear()
  }

  /** The state at `ts` (ms): `undefined` before the stream existed. Answered from held windows when they cover `ts`. */
  async stateAt(ts: number, options: CallOptions = {}): Promise<S | undefined> {
    return (await this.snapshotAt(ts, options))?.state
  }

  /** Like `stateAt`, with the seq and ts of the last entry the state includes. */
  async snapshotAt(ts: number, options: CallOptions = {}): Promise<Snapshot<S> | undefined> {
    return (await abortable(this.#store.stateAt(ts), options.signal)) as Snapshot<S> | undefined
  }

  /** The window covering a time, the head (`{ at: 'now' }`) or a seq; fetched only if not held. */
  async window(point: WindowPoint, options: CallOptions = {}): Promise<Window<S>> {
    const at: Point = 'at' in point && point.at === 'now' ? { at: AT_HEAD } : (point as Point)
    return (await abortable(this.#store.window(at), options.signal)) as Window<S>
  }

  /**
   * The history over `[from, to]`: first the state at `from` (or at creation, if later), then
   * `{ seq, ts, state, entry }` for every entry with `from < ts ≤ to`. Only windows not held are
   * fetched, several at once (bounded); nothing is fetched when held windows cover the range.
   * Without `to` it does not complete: after the last entry held it goes on with the live cursor,
   * each new entry once. An abort of `signal` ends it with the signal's reason as its error.
   */
  history(range: HistoryRange): Observable<HistoryState<S>> {
    const bounded = this.#bounded(range.from, range.to ?? Number.MAX_SAFE_INTEGER)
    let history = bounded
    if (range.to === undefined) {
      history = defer(() => {
        let last = -1
        return concat(
          bounded.pipe(tap((step) => (last = step.seq))),
          // The live cursor starts from the state the history reached (held now): only what is new passes.
          defer(() => this.live$.pipe(filter((step) => step.seq > last))),
        )
      })
    }
    const signal = range.signal
    if (signal === undefined) return history
    return new Observable<HistoryState<S>>((subscriber) => {
      const stop = (): void => subscriber.error(signal.reason)
      if (signal.aborted) {
        stop()
        return undefined
      }
      signal.addEventListener('abort', stop, { once: true })
      const subscription = history.subscribe(subscriber)
      return () => {
        signal.removeEventListener('abort', stop)
        subscription.unsubscribe()
      }
    })
  }

  #bounded(from: number, to: number): Observable<HistoryState<S>> {
    const range = { from, to }
    return new Observable<HistoryState<S>>((subscriber) => {
      let stop: (() => void) | undefined
      let cancelled = false
      void (async () => {
        const spans = await this.#spans(range)
        if (cancelled) return
        const windows = readAhead(spans, this.#options.historyConcurrency, (span) => this.#store.windowFor(span), (span) =>
          this.#store.release(span.start.seq),
        )
        stop = windows.stop
        const head = new HistoryHead<S>(range, subscriber, (window, state) => this.#store.offerState(window, state))
        for (let i = 0; i < spans.length && !cancelled && !head.done; i++) {
          const window = await windows.take(i)
          try {
            head.emit(window)
          } finally {
            // Released once read: the state it ended in was offered to the window after it first.
            this.#store.release((spans[i] as { start: Bound }).start.seq)
          }
        }
        windows.stop()
        if (!cancelled) subscriber.complete()
      })().catch((err: unknown) => {
        stop?.()
        if (!cancelled) subscriber.error(err)
      })
      return () => {
        cancelled = true
        stop?.()
      }
    })
  }

  /**
   * Appends a mutation or an atomic batch, exactly once even when the request is retried. An
   * abort before it is sent stores nothing; one while it is on its way may or may not store it.
   */
  append(messages: Message | readonly Message[], options: AppendOptions = {}): Promise<AppendResult> {
    return this.#producer.append(messages, options.signal, options.streamSeq)
  }

  /** Closes the stream: its state is final, its open window closes at the last entry, appends are refused. */
  async close(): Promise<void> {
    await this.#request<undefined>(`${ROUTES.stream}${this.name}`, {
      method: 'POST',
      headers: { 'content-type': JSON_CONTENT_TYPE, [HEADERS.streamClosed]: 'true' },
    })
  }

  /** The stream's configuration and head (`HEAD`): kind, content type, seq, closed, snapshot policy. */
  info(options: CallOptions = {}): Promise<StreamInfo> {
    return readStreamInfo((path, request) => this.#request(path, request), this.name, options.signal)
  }

  /** The layout of the windows over a range (all of them by default): bounds, entry counts and bytes, no entries. */
  windowBounds(range: WindowRange & CallOptions = {}): Promise<WindowBounds[]> {
    return readWindowBounds((path, request) => this.#request(path, request), this.name, range, range.signal)
  }

  /** Stores `state` as the stream's new state (nothing when equal). Safe to retry. */
  async set(state: S): Promise<{ stored: boolean; seq: number; ts: number }> {
    const response = await this.#request<{ stored: boolean; seq: number; ts: number }>(`${ROUTES.state}${this.name}`, {
      method: 'PUT',
      headers: { 'content-type': JSON_CONTENT_TYPE },
      body: JSON.stringify(state),
    })
    return response.body
  }

  /** One request through the retry policy (reads and idempotent writes only). */
  async #request<T>(path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    this.#retried = false
    return retrying(
      (attempt) => {
        if (attempt > 1) this.#retried = true
        return this.#http.json<T>(path, options)
      },
      { attempts: this.#options.fetchAttempts, backoff: this.#options.live.backoff, signal: options.signal },
    )
  }

  /** The store behind this handle (for `client.live([...])`, which feeds it too). */
  storeOf(): WindowStore {
    return this.#store
  }

  /** The windows over `[from, to]`: from held data when it covers the range, else from a listing. */
  async #spans(range: { from: number; to: number }): Promise<Array<{ start: Bound; end: Bound | null }>> {
    const held = this.#store.heldRange(range.from, range.to)
    if (held !== undefined) return held
    const response = await this.#request<{ windows: WindowBounds[] }>(
      `${ROUTES.windows}${this.name}?${QUERY.from}=${range.from}&${QUERY.to}=${range.to}`,
    )
    return response.body.windows.map((bounds) => ({ start: bounds.start, end: bounds.end }))
  }

  /** One window GET; retried on network failures (it is a read, so always safe to repeat). */
  async #fetchWindow(point: Point, after: number | undefined): Promise<{ data: WindowData; size: number }> {
    const query = 'at' in point ? `${QUERY.at}=${point.at === AT_HEAD ? AT_NOW : point.at}` : `${QUERY.seq}=${point.seq}`
    const suffix = after === undefined ? '' : `&${QUERY.after}=${after}`
    const path = `${ROUTES.window}${this.name}?${query}${suffix}`
    const response = await this.#request<WindowData>(path)
    const data = response.body
    if (data.entries.length > 0) {
      const first = data.entries[0]?.seq ?? 0
      const last = data.entries[data.entries.length - 1]?.seq ?? 0
      this.#http.trace({ type: 'entries', stream: this.name, source: 'window', count: data.entries.length, first, last })
    }
    return { data, size: response.size }
  }
}

/**
 * The running state of one `history()`: emits each window's part of the range, continuing from
 * the last state emitted. Per entry it makes the new state (`apply`, which shares what the entry
 * left alone) and the one object emitted, nothing else.
 */
class HistoryHead<S> {
  readonly #range: { from: number; to: number }
  readonly #subscriber: Subscriber<HistoryState<S>>
  readonly #offer: (window: Window, state: Snapshot) => void
  #seq = -1
  #ts = 0
  #state: Json = null
  /** Set once an entry past `range.to` was seen (or the subscriber left): nothing more is emitted. */
  done = false

  /** `offer` is given each committed window read to its end, with the state it ends in. */
  constructor(range: { from: number; to: number }, subscriber: Subscriber<HistoryState<S>>, offer: (window: Window, state: Snapshot) => void) {
    this.#range = range
    this.#subscriber = subscriber
    this.#offer = offer
  }

  /** Emits the part of `window` inside the range that follows the last state emitted. */
  emit(window: Window): void {
    if (window.start === null || this.done) return
    const entries = window.entries
    const to = this.#range.to
    const subscriber = this.#subscriber
    let i: number
    if (this.#seq === -1) {
      // The first window: the state at `from` (or the window's start, if later), emitted without an entry.
      i = entriesUpToTs(entries, this.#range.from)
      const first = replay(window.start, entries, i)
      if (first.ts > to) {
        this.done = true
        return
      }
      this.#seq = first.seq
      this.#ts = first.ts
      this.#state = first.state
      subscriber.next({ seq: first.seq, ts: first.ts, state: first.state as S })
    } else {
      i = entriesUpToSeq(entries, this.#seq)
    }
    let state = this.#state
    for (; i < entries.length; i++) {
      const entry = entries[i] as Entry
      if (entry.ts > to || subscriber.closed) {
        this.done = true
        break
      }
      state = apply(state, entry.m)
      this.#seq = entry.seq
      this.#ts = entry.ts
      subscriber.next({ seq: entry.seq, ts: entry.ts, state: state as S, entry })
    }
    this.#state = state
    // The window after this one starts from this very state: handing it over spares the store a replay.
    if (!this.done && window.end !== null && this.#seq === window.end.seq) {
      this.#offer(window, { seq: this.#seq, ts: this.#ts, state })
    }
  }
}

/**
 * Fetches `items` in order with at most `concurrency` fetches in flight, starting each while the
 * ones before it are being read, but never more than `concurrency` ahead of the item being taken
 * (so a slow reader does not pile up fetched windows). A taken item is the caller's to let go of;
 * `done` is called for every item fetched and abandoned by `stop`.
 */
function readAhead<T, R>(
  items: readonly T[],
  concurrency: number,
  fetch: (item: T) => Promise<R>,
  done: (item: T) => void,
): { take: (index: number) => Promise<R>; stop: () => void } {
  const width = Math.max(1, concurrency)
  // Fetches started and not yet taken, by index: a taken one is dropped at once, so a long
  // history holds only the windows read ahead (and what the store keeps within its budget).
  const inFlight = new Map<number, Promise<R>>()
  let started = 0
  let active = 0
  let taken = 0
  let stopped = false
  const fill = (): void => {
    while (!stopped && active < width && started < items.length && started < taken + width) {
      const item = items[started] as T
      active += 1
      const promise = fetch(item).finally(() => {
        active -= 1
        fill()
      })
      // An error is reported when its item is taken; until then it must not count as unhandled.
      promise.catch(() => undefined)
      inFlight.set(started, promise)
      started += 1
    }
  }
  return {
    take: (index) => {
      taken = index + 1
      fill()
      const promise = inFlight.get(index) as Promise<R>
      inFlight.delete(index)
      return promise
    },
    stop: () => {
      if (stopped) return
      stopped = true
      // Release the pins of fetches never taken, once they settle.
      for (const [index, promise] of inFlight) void promise.then(() => done(items[index] as T), () => undefined)
      inFlight.clear()
    },
  }
}
