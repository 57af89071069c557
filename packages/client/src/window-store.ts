/**
 * The held windows of one stream at work: it runs the index's plans (`core/window-index.ts`)
 * with the one fetcher, so every entry is fetched at most once:
 * - every request looks in the held windows first;
 * - a request that might be for a window already being fetched waits for that fetch (sharing its
 *   failure) and looks again; requests certainly for other windows go ahead in parallel, and a
 *   time point that nothing held tells apart first learns its window's bounds;
 * - a window held in part (cut short, fetched while open, a tail that stopped) is resumed with
 *   `after=` its last held entry, one resume at a time per window;
 * - what does not fit the client's memory budget goes, never a window being read.
 */
import { BehaviorSubject } from 'rxjs'
import { ErrorCode, StateStreamError, apply } from '@statestream/common'
import type { Bound, Entry, Json, Snapshot, WindowData } from '@statestream/common'
import type { MemoryBudget } from './core/budget.ts'
import { coversPoint, inSpan, spans, stateAtSeq, stateAtTs } from './core/cover.ts'
import { headOf, replayHeld } from './core/sharing.ts'
import { pastEnd, plan, planSpan } from './core/plan.ts'
import { WindowIndex } from './core/window-index.ts'
import type { Held, Pending, Span, WindowView } from './core/window-index.ts'
import { WindowConflict, lastSeqOf } from './core/window-machine.ts'
import type { Point, WindowContent, WindowStatus } from './core/window-machine.ts'
import { liveBound, liveEnd, liveEntry, liveWindow, tailed, untailed } from './core/live-feed.ts'
import type { PartialHandler, WindowAnswer } from './io/window-fetcher.ts'

/** Where a store's windows come from: the fetcher (`io/window-fetcher.ts`), or a stand-in in tests. */
export interface WindowSource {
  /** The window of `point` (only its entries after `after`, when given); what a cut answer delivered goes to `onPartial` first. */
  fetch(point: Point, after: number | undefined, onPartial: PartialHandler): Promise<WindowAnswer>
  /** The bounds of the window for time `at`, without its entries; a source without it makes a request wait for any fetch under way that may be for its window. */
  spanAt?(at: number): Promise<Span | undefined>
  /** The bounds of every window listed at time `at`, without entries; a source without it cannot check that held data is still the stream's. */
  spansAt?(at: number, signal?: AbortSignal): Promise<Span[]>
}

/** A held window as readers see it. `start` is `null` only for the time before the stream existed. */
export interface Window<S = Json> {
  /** Where the window is in its life (never `pending`: a window handed out has its data). */
  status: Exclude<WindowStatus, 'pending'>
  start: Snapshot<S> | null
  entries: readonly Entry[]
  /** The end bound; `null` while the window is open (or its end is not known yet). */
  end: Bound | null
}

/** Rounds of looking again a request may take before the held data is judged inconsistent. */
const MAX_LOOKUPS = 16

export class WindowStore {
  readonly index: WindowIndex
  readonly windows$: BehaviorSubject<readonly WindowView[]>
  readonly #fetcher: WindowSource
  readonly #budget: MemoryBudget
  /** Fetches under way: per pending request, and per held window being resumed. */
  readonly #pendingFetch = new Map<Pending, Promise<void>>()
  readonly #resuming = new Map<Held, Promise<void>>()

  constructor(fetcher: WindowSource, budget: MemoryBudget, onChange: (view: WindowView, removed: boolean) => void = () => undefined) {
    this.#fetcher = fetcher
    this.#budget = budget
    this.index = new WindowIndex(budget, onChange)
    this.windows$ = new BehaviorSubject<readonly WindowView[]>([])
    budget.join(this.index)
  }

  /** True when nothing is held, asked for or tailed: the stream's handle state may go. */
  get idle(): boolean {
    return this.index.empty && this.#pendingFetch.size === 0 && this.#resuming.size === 0
  }

  /** Leaves the client's budget (the stream is let go of). */
  detach(): void {
    this.#budget.leave(this.index)
  }

  /**
   * The window covering `point`, fetched only if the held windows do not cover it. With
   * `complete`, a held window still pulling is first brought up to date (only its entries after
   * the held ones are fetched); without, held data that answers "the state at `point`" is enough.
   */
  async window(point: Point, complete = true): Promise<Window> {
    /** The bounds of the point's window, once learnt (to tell it apart from a fetch under way). */
    let known: Span | undefined
    for (let round = 0; round < MAX_LOOKUPS; round++) {
      const next = plan(this.index, point, complete)
      switch (next.kind) {
        case 'hit':
          this.index.touch(next.held)
          return viewOf(next.held)
        case 'before':
          return this.#preCreation()
        case 'resume': {
          await this.#resume(next.held)
          const again = this.index.held.find((slot) => slot === next.held && (coversPoint(slot.model, point) || spans(slot.model, point)))
          // A resumed window answers as of now even when it is still open and the point lies ahead.
          if (again !== undefined && (again.model.end === null || coversPoint(again.model, point))) {
            this.index.touch(again)
            return viewOf(again)
          }
          break
        }
        case 'wait': {
          // Neither window's bounds known: they may be one. A time point learns its window's
          // bounds (no entries), and goes ahead unless the fetch under way is for that window.
          if (known === undefined && 'at' in point && !samePoint(next.pending.point, point)) known = await this.#spanOf(point.at)
          if (known === undefined || inSpan(known, next.pending.point)) {
            await this.#wait(next.pending)
            break
          }
          const byBounds = planSpan(this.index, known)
          if (byBounds.kind === 'wait') await this.#wait(byBounds.pending)
          else if (byBounds.kind === 'resume') await this.#resume(byBounds.held)
          else if (byBounds.kind === 'fetch') {
            const landed = await this.#fetchNew({ seq: known.start.seq }, known, false)
            if (landed !== 'before' && landed !== 'stale' && (spans(landed.model, point) || coversPoint(landed.model, point))) {
              this.index.touch(landed)
              return viewOf(landed)
            }
            known = undefined
          }
          // Held now (or another try): the next round finds it.
          break
        }
        case 'fetch': {
          const landed = await this.#fetchNew(point, undefined, false)
          if (landed === 'stale') break
          if (landed === 'before') return this.#preCreation()
          if (spans(landed.model, point) || coversPoint(landed.model, point)) {
            this.index.touch(landed)
            return viewOf(landed)
          }
          // Asked for a point at or past its end, the server answers a closed window only when
          // the stream is closed there (a window for T ends after T; for seq n, after n): its last.
          if (landed.model.status === 'committed' && pastEnd(landed.model.end, point)) {
            this.index.final = landed.model.end
            this.index.touch(landed)
            return viewOf(landed)
          }
          break
        }
      }
    }
    throw new WindowConflict(`no window settles for ${JSON.stringify(point)}`)
  }

  /** The window a listing gave, needed up to `to`: fetched (or resumed) only if not held so far, pinned until `release`. */
  async windowFor(span: Span, to?: number): Promise<Window> {
    for (let round = 0; round < MAX_LOOKUPS; round++) {
      const next = planSpan(this.index, span, to)
      if (next.kind === 'hit') {
        this.index.pin(next.held)
        return viewOf(next.held)
      }
      if (next.kind === 'resume') {
        await this.#resume(next.held)
        const after = this.index.held.find((slot) => slot === next.held)
        // Resumed: held up to its end, or, for the open window, as of now.
        if (after !== undefined && (span.end === null || lastSeqOf(after.model) >= span.end.seq)) {
          this.index.pin(after)
          return viewOf(after)
        }
      } else if (next.kind === 'wait') await this.#wait(next.pending)
      else if (next.kind === 'fetch') {
        // Pinned as it lands, so that its start is left for the reader's replay to give.
        const landed = await this.#fetchNew({ seq: span.start.seq }, span, true)
        if (landed !== 'before' && landed !== 'stale') return viewOf(landed)
      }
    }
    throw new WindowConflict(`window from seq ${span.start.seq} does not settle`)
  }

  /** Ends a `windowFor` pin: the window may be evicted again. */
  release(start: number): void {
    this.index.release(start)
    this.#budget.enforce()
    this.publish()
  }

  /**
   * Replays the held window that starts at `window.start` from entry index `i`, from `state`,
   * calling `visit` per entry until it returns false (see `replayHeld`: a replay to the end is
   * remembered, and the window after takes its last state as its start).
   */
  replay(window: Window, i: number, state: Json, visit: (entry: Entry, state: Json) => boolean): void {
    const slot = this.index.held.find((held) => held.model.start.seq === window.start?.seq && held.model.entries === window.entries)
    if (slot !== undefined) return replayHeld(this.index.held, slot, i, state, visit)
    // No longer held as handed out (grown or gone): replay the copy without remembering anything.
    for (const entry of window.entries.slice(i)) {
      state = apply(state, entry.m)
      if (!visit(entry, state)) return
    }
  }

  /** The state at `ts`: `undefined` before the stream existed. */
  async stateAt(ts: number): Promise<Snapshot | undefined> {
    const window = await this.window({ at: ts }, false)
    return window.start === null ? undefined : stateAtTs({ ...window, start: window.start }, ts)
  }

  /** The state after entry `seq`. */
  async stateAtSeq(seq: number): Promise<Snapshot> {
    const window = await this.window({ seq }, false)
    if (window.start === null) throw new WindowConflict(`no state at seq ${seq}`)
    return stateAtSeq({ ...window, start: window.start }, seq)
  }

  /** The held windows covering `[from, to]` without a gap, first to last; `undefined` when any part is not held. */
  heldRange(from: number, to: number): Span[] | undefined {
    return this.index.heldRange(from, to)
  }

  /**
   * The window that starts at `end` (the end bound of a window), or `undefined` when the stream
   * is closed there. Asks the server only when neither is known, for the entries after `end`:
   * the next window whole, or nothing of the last one again (its answer then is the window that
   * ends at `end`, which only a closed stream's last window does).
   */
  async windowAfter(end: Bound): Promise<Window | undefined> {
    if (end.seq === this.index.final?.seq) return undefined
    const held = this.index.held.find((slot) => slot.model.start.seq === end.seq)
    if (held !== undefined) return viewOf(held)
    const { data, size } = await this.#fetcher.fetch({ seq: end.seq }, end.seq, (content, bytes) => void this.ingest(content, bytes))
    if (data.start !== null && data.end?.seq === end.seq) {
      this.index.final = end
      return undefined
    }
    const landed = this.#land(data, size, false)
    return landed === 'before' ? undefined : viewOf(landed)
  }

  /**
   * Brings the open window, if one is held and no tail feeds it, up to the head (one `after=`
   * request, which carries only new entries): what a live cursor needs before its first value.
   */
  async catchUp(): Promise<void> {
    const open = this.index.open
    if (open !== undefined && open.model.status !== 'live') await this.#resume(open)
  }

  /**
   * Whether the held open window is still a window of the server's stream, asked when the server
   * refused a multiplexed resume naming held windows (which stream's, it does not say): the
   * windows listed at its start time (bounds only, one small request) must include its start
   * (seq and time). When they do not, the name was deleted and created again meanwhile, and
   * resuming would join two histories (I7a): what is held of the stream is forgotten, and
   * `false` says so. `true` when nothing open is held
   * (there is nothing to resume from). A failed request (the stream missing, the network down)
   * rejects: the tail judges it as it judges its own connection's failures.
   */
  async ownsOpen(signal?: AbortSignal): Promise<boolean> {
    const open = this.index.open
    if (open === undefined || this.#fetcher.spansAt === undefined) return true
    const { seq, ts } = open.model.start
    const listed = await this.#fetcher.spansAt(ts, signal)
    if (listed.some((span) => span.start.seq === seq && span.start.ts === ts)) return true
    // Unless another call found out first (and may hold the new stream's windows by now).
    if (this.index.held.includes(open)) this.clear()
    return false
  }

  // ── The live side: a tail feeds the open window (`core/live-feed.ts`). ────────────────────

  /** A tail received the open window. */
  liveWindow(data: WindowData, size: number): void {
    const slot = liveWindow(this.index, data, size)
    this.#budget.enforce(slot)
    this.publish()
  }

  /** A tail received the next entry; returns the head it makes. */
  liveEntry(entry: Entry, size: number): Snapshot {
    const slot = liveEntry(this.index, entry, size)
    this.#budget.enforce(slot)
    this.publish()
    return slot.head as Snapshot
  }

  /** A tail was told the open window closed at `bound`. */
  liveBound(bound: Bound): void {
    liveBound(this.index, bound)
    this.publish()
  }

  /** A tail was told the stream is closed at `bound`; returns its final state, when what is held has it. */
  liveEnd(bound: Bound): Snapshot | undefined {
    const last = liveEnd(this.index, bound)
    this.publish()
    return last === undefined ? undefined : headOf(last)
  }

  /** A tail connected: the open window is live while one is. */
  tailed(): void {
    tailed(this.index)
    this.publish()
  }

  /** A tail stopped or lost its connection. */
  untailed(): void {
    untailed(this.index)
    this.publish()
  }

  /** Forgets everything held (a deleted stream). */
  clear(): void {
    this.index.clear()
    this.publish()
  }

  /** Re-emits `windows$`. */
  publish(): void {
    this.windows$.next(this.index.views())
  }

  /** Adds an answer (or what a cut one delivered) and keeps the budget. */
  ingest(content: WindowContent, size: number, pinned = false): Held {
    const slot = this.index.ingest(content, size, pinned)
    this.#budget.enforce(slot)
    this.publish()
    return slot
  }

  #preCreation(): Window {
    return { status: 'committed', start: null, entries: [], end: this.index.created as Bound }
  }

  /** The bounds of the window for `at`; `undefined` when they could not be learnt (the request then waits). */
  async #spanOf(at: number): Promise<Span | undefined> {
    try {
      return await this.#fetcher.spanAt?.(at)
    } catch {
      return undefined
    }
  }

  /**
   * Waits for the fetch of `pending`, which may be for the same window. When it fails, its
   * waiters are told with it (the window it would have brought is removed, and a later request
   * fetches it again), rather than each sending the same failing request in turn.
   */
  async #wait(pending: Pending): Promise<void> {
    await this.#pendingFetch.get(pending)
  }

  /**
   * True (and everything held forgotten) when `error` says the held windows are not the server's
   * history of the name: an answer they cannot take (another start, another creation), or a
   * resume the server refuses (asked from held data alone, it is refused only when that data is
   * not the stream's: the name was deleted and created again). The caller then asks afresh.
   */
  #stale(error: unknown, resume: boolean): boolean {
    const refused = resume && error instanceof StateStreamError && error.code === ErrorCode.INVALID_PARAMETER
    if (!(error instanceof WindowConflict) && !refused) return false
    this.clear()
    return true
  }

  async #resume(slot: Held): Promise<void> {
    let resuming = this.#resuming.get(slot)
    if (resuming === undefined) {
      const after = slot.model.entries[slot.model.entries.length - 1]?.seq ?? slot.model.start.seq
      resuming = this.#fetcher
        .fetch({ seq: slot.model.start.seq }, after, (content, size) => this.ingest(content, size))
        .then(({ data, size }) => void this.#land(data, size, false))
        .catch((error: unknown) => {
          if (!this.#stale(error, true)) throw error
        })
        .finally(() => {
          this.#resuming.delete(slot)
          this.publish()
        })
      this.#resuming.set(slot, resuming)
    }
    await resuming
  }

  /** Fetches the window of `point`; with `pin`, the window it lands in is pinned for the caller (`release`). */
  async #fetchNew(point: Point, span: Span | undefined, pin: boolean): Promise<Held | 'before' | 'stale'> {
    const pending = this.index.addPending(point, span)
    let landed: Held | 'before' | undefined
    let partial: Held | undefined
    let stale = false
    // Waiters share the outcome: told of a failure, and looking again after a stale answer.
    const fetch = this.#fetcher
      .fetch(point, undefined, (content, size) => {
        partial = this.ingest(content, size, pin && partial === undefined)
      })
      .then(
        ({ data, size }) => {
          landed = this.#land(data, size, pin && partial === undefined)
        },
        (error: unknown) => {
          if (!this.#stale(error, false)) throw error
          stale = true
        },
      )
    this.#pendingFetch.set(pending, fetch)
    this.publish()
    try {
      await fetch
    } finally {
      this.#pendingFetch.delete(pending)
      this.index.settle(pending, landed !== undefined || partial !== undefined)
      this.publish()
    }
    if (stale) return 'stale'
    if (landed === undefined) throw new WindowConflict('the fetched window overlaps held data it cannot join')
    return landed
  }

  #land(data: WindowData, size: number, pin: boolean): Held | 'before' {
    if (data.start === null) {
      this.index.learnCreated(data)
      return 'before'
    }
    return this.ingest({ start: data.start, entries: data.entries, end: data.end }, size, pin)
  }
}

function samePoint(a: Point, b: Point): boolean {
  return 'at' in a ? 'at' in b && a.at === b.at : 'seq' in b && a.seq === b.seq
}

function viewOf(slot: Held): Window {
  const { model } = slot
  return { status: model.status, start: model.start, entries: model.entries, end: model.end ?? null }
}

