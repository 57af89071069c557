/**
 * `stream.history({ from, to })`: the states of a stretch of history, from held windows where
 * they cover it and from fetches of only the windows not held (a few at once, read ahead of the
 * reader), then — without `to` — on into the live cursor. The windows come from listings, page
 * by page (a listing has a cap), and any windows a listing leaves out (several snapshots in one
 * millisecond) are walked by seq, so no window is ever skipped.
 */
import { QUERY, ROUTES, entriesUpToSeq, entriesUpToTs, replay } from '@statestream/common'
import type { Json, WindowBounds } from '@statestream/common'
import { Observable, concat, concatMap, defer, from } from 'rxjs'
import type { Span } from './core/window-index.ts'
import type { StreamCore, LiveState } from './stream-core.ts'
import type { Window } from './window-store.ts'

/** One step of `history()`: the state after entry `seq`; `entry` is absent on the first (the state at `from`). */
export type HistoryState<S = Json> = LiveState<S>

/** What a history needs of its client. */
export interface HistoryOptions {
  /** Window fetches one history runs at once. */
  concurrency: number
}

/** The history of `core` over `[from, to]`; without `to`, on into the live tail. */
export function history(core: StreamCore, range: { from: number; to?: number | undefined }, options: HistoryOptions): Observable<HistoryState> {
  const to = range.to ?? Number.MAX_SAFE_INTEGER
  const reader = new HistoryReader(core, range.from, to)
  const bounded = new Observable<HistoryState>((subscriber) => {
    const release = core.use()
    let stopped = false
    reader.run(subscriber, options, () => stopped).then(
      () => subscriber.complete(),
      (err: unknown) => subscriber.error(err),
    )
    return () => {
      stopped = true
      release()
    }
  })
  // The live cursor starts from the state the history reached (held now): what it adds is new.
  const steps =
    range.to !== undefined
      ? bounded
      : concat(bounded, defer(() => core.live$.pipe(concatMap((step) => from(reader.follow(step)).pipe(concatMap((items) => from(items)))))))
  // Closing the client ends a history as it ends a live cursor: it completes, at once and for
  // good (not on into the live tail), whatever its requests in flight then come to.
  return new Observable<HistoryState>((subscriber) => {
    const untrack = core.track(() => subscriber.complete())
    const subscription = steps.subscribe(subscriber)
    return () => {
      untrack()
      subscription.unsubscribe()
    }
  })
}

class HistoryReader {
  readonly #core: StreamCore
  readonly #from: number
  readonly #to: number
  #seq = -1
  #state: Json = null
  /** Set once an entry past `to` was seen (or the subscriber left): nothing more is emitted. */
  #done = false

  constructor(core: StreamCore, fromTs: number, to: number) {
    this.#core = core
    this.#from = fromTs
    this.#to = to
  }

  /** Emits the range, fetching at most `concurrency` windows ahead of the one being read. */
  async run(subscriber: { next(value: HistoryState): void; closed: boolean }, options: HistoryOptions, stopped: () => boolean): Promise<void> {
    const store = this.#core.store
    const source = this.#spans()[Symbol.asyncIterator]()
    const ahead: Array<{ span: Span; window: Promise<Window> }> = []
    let exhausted = false
    try {
      while (!stopped() && !this.#done) {
        while (!exhausted && ahead.length < Math.max(1, options.concurrency)) {
          const next = await source.next()
          if (next.done === true) exhausted = true
          else {
            const window = store.windowFor(next.value, this.#to)
            // An error is reported when its window is taken; until then it must not count as unhandled.
            window.catch(() => undefined)
            ahead.push({ span: next.value, window })
          }
        }
        const item = ahead.shift()
        if (item === undefined) return
        const window = await item.window
        try {
          this.#emit(window, subscriber)
        } finally {
          store.release(item.span.start.seq)
        }
      }
    } finally {
      // Let go of the pins of windows fetched ahead and never read, once they land.
      for (const item of ahead) void item.window.then(() => store.release(item.span.start.seq), () => undefined)
      await source.return?.(undefined)
    }
  }

  /** The steps a live value adds to what this history emitted (the entries it skipped over, then itself). */
  async follow(step: LiveState): Promise<HistoryState[]> {
    if (step.seq <= this.#seq) return []
    if (step.entry !== undefined && step.seq === this.#seq + 1) {
      this.#seq = step.seq
      this.#state = step.state as Json
      return [step]
    }
    // The cursor's first value is the head, which may be ahead: its entries are held, emit them one by one.
    const out: HistoryState[] = []
    while (this.#seq < step.seq) {
      const window = await this.#core.store.window({ seq: this.#seq + 1 })
      if (window.start === null) break
      const before = this.#seq
      this.#core.store.replay(window, entriesUpToSeq(window.entries, this.#seq), this.#state, (entry, state) => {
        if (entry.seq > step.seq) return false
        this.#seq = entry.seq
        this.#state = state
        out.push({ seq: entry.seq, ts: entry.ts, state, entry })
        return true
      })
      if (this.#seq === before) break
    }
    return out
  }

  /** Emits the part of `window` inside the range that follows the last state emitted. */
  #emit(window: Window, subscriber: { next(value: HistoryState): void; closed: boolean }): void {
    if (window.start === null || this.#done) return
    let i: number
    if (this.#seq === -1) {
      // The first window: the state at `from` (or the window's start, if later), emitted without an entry.
      i = entriesUpToTs(window.entries, this.#from)
      const first = replay(window.start, window.entries, i)
      if (first.ts > this.#to) {
        this.#done = true
        return
      }
      this.#seq = first.seq
      this.#state = first.state
      subscriber.next({ seq: first.seq, ts: first.ts, state: first.state })
    } else {
      i = entriesUpToSeq(window.entries, this.#seq)
    }
    this.#core.store.replay(window, i, this.#state, (entry, state) => {
      if (entry.ts > this.#to || subscriber.closed) {
        this.#done = true
        return false
      }
      this.#seq = entry.seq
      this.#state = state
      subscriber.next({ seq: entry.seq, ts: entry.ts, state, entry })
      return true
    })
  }

  /**
   * The windows over the range, in order and without a gap: the held ones when they cover it all,
   * else listings page by page, with any window a page leaves out fetched by seq.
   */
  async *#spans(): AsyncGenerator<Span> {
    const store = this.#core.store
    const held = store.heldRange(this.#from, this.#to)
    if (held !== undefined) return yield* held
    let expected: number | undefined
    let last: Span | undefined
    let fromTs = this.#from
    for (;;) {
      const page = await this.#list(fromTs)
      let fresh = false
      for (const span of page) {
        // A continued listing starts with the window the page before ended with.
        if (last !== undefined && span.start.seq <= last.start.seq) continue
        // Several snapshots in one millisecond: the page starts after windows it left out. Walk them by seq.
        while (expected !== undefined && span.start.seq > expected) {
          const window = await store.window({ seq: expected })
          if (window.start === null) return
          last = { start: { seq: window.start.seq, ts: window.start.ts }, end: window.end }
          yield last
          if (window.end === null) return
          expected = window.end.seq
        }
        yield span
        last = span
        fresh = true
        expected = span.end?.seq
      }
      // Past `to`, open, or ending where it starts (a closed stream's only window, without entries): the last.
      if (last === undefined || last.end === null || last.end.ts > this.#to || last.end.seq === last.start.seq) return
      if (!fresh) {
        // Nothing listed after a window that ends inside the range: the stream is closed there, or
        // the next window starts in the same millisecond as the last (the listing starts at the
        // last snapshot of a millisecond). Only the entries after its end tell which.
        const next = await store.windowAfter(last.end)
        if (next === undefined || next.start === null) return
        last = { start: { seq: next.start.seq, ts: next.start.ts }, end: next.end }
        yield last
        if (next.end === null || next.end.ts > this.#to) return
        expected = next.end.seq
      }
      // A page that ends before `to` with a closed window was cut at the listing's cap: list on.
      fromTs = (last.end as Span['start']).ts
    }
  }

  async #list(fromTs: number): Promise<Span[]> {
    const path = `${ROUTES.windows}${this.#core.name}?${QUERY.from}=${fromTs}&${QUERY.to}=${this.#to}`
    const response = await this.#core.request<{ windows: WindowBounds[] }>(path)
    return response.body.windows.map((bounds) => ({ start: bounds.start, end: bounds.end }))
  }
}
