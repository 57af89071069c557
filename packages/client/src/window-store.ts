/**
 * The held windows of one stream, in time order, and the rules that keep every entry fetched at
 * most once:
 * - every request looks in the held windows first;
 * - a request that might be for a window already being fetched waits for that fetch and looks
 *   again; requests that are certainly for other windows go ahead in parallel;
 * - a window whose prefix is held (a fetch while it was open, a tail that stopped) is resumed
 *   with `after=` the last held entry;
 * - committed windows nobody is reading are evicted beyond a budget: first those only histories
 *   read, the last fetched first (a history longer than the budget keeps its beginning, for the
 *   next read of that range, and pushes out nothing else), then the least recently used.
 * The store does no I/O itself: it is handed a fetcher, so tests can run it against a model.
 */
import { BehaviorSubject } from 'rxjs'
import { replay } from '@statestream/common'
import type { Bound, Entry, Snapshot, WindowData } from '@statestream/common'
import {
  WindowConflict,
  coversPoint,
  coversTs,
  inSpan,
  lastSeqOf,
  spans,
  spansSeq,
  stateAtSeq,
  stateAtTs,
  transition,
} from './window-state.ts'
import { shareEqual } from './share-equal.ts'
import { endsAt, rederive, samePoint, shareStart, unshare, viewOf, viewOfSlot } from './window-slot.ts'
import type { Held, Slot, Window, WindowView } from './window-slot.ts'
import type { Point, WindowContent, WindowEvent, WindowModel } from './window-state.ts'

/** A window fetch: the window covering `point`, only entries after `after` when given. */
export type WindowFetcher = (query: { point: Point; after?: number }) => Promise<{ data: WindowData; size: number }>

export type { Window, WindowView } from './window-slot.ts'

/** Options of a `WindowStore`. */
export interface WindowStoreOptions {
  fetch: WindowFetcher
  /** Budget of committed windows' estimated bytes; beyond it windows are evicted (see the class). */
  maxBytes?: number
  /** Told of every state change of a window (`removed` when it is dropped or evicted). */
  onTransition?: (view: WindowView, removed: boolean) => void
}

/** Default memory budget of one stream's committed windows: 64 MiB. */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024

const MAX_LOOKUPS = 16

export class WindowStore {
  readonly #fetch: WindowFetcher
  readonly #maxBytes: number
  readonly #onTransition: ((view: WindowView, removed: boolean) => void) | undefined
  /** Windows with data, ordered by start seq; they never overlap. */
  #held: Held[] = []
  #pending: Slot[] = []
  /** The creation bound (seq 0), once any answer revealed it. */
  #created: Bound | undefined
  #nextId = 1
  #clock = 0
  #tailers = 0
  /** The last state a reader offered (`offerState`), until a window takes it. */
  #offered: { entries: readonly Entry[]; state: Snapshot } | undefined
  readonly #windows$ = new BehaviorSubject<readonly WindowView[]>([])

  constructor(options: WindowStoreOptions) {
    this.#fetch = options.fetch
    this.#maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES
    this.#onTransition = options.onTransition
  }

  /** The held windows, time-ordered, re-emitted on every change. */
  get windows$(): BehaviorSubject<readonly WindowView[]> {
    return this.#windows$
  }

  /** The held windows' models, in order (for tests and diagnostics). */
  models(): readonly WindowModel[] {
    return this.#held.map((slot) => slot.model)
  }

  /** Total estimated bytes held. */
  get bytes(): number {
    return this.#held.reduce((sum, slot) => sum + slot.bytes, 0)
  }

  /**
   * The window covering `point`, fetched only if the held windows do not cover it. With
   * `complete`, a held window that is neither committed nor live is first brought up to date
   * (only its entries after the held ones are fetched); without, held data that answers "the
   * state at `point`" is enough.
   */
  async window(point: Point, complete = true): Promise<Window> {
    if (this.#beforeCreation(point)) return this.#preCreation()
    for (let round = 0; round < MAX_LOOKUPS; round++) {
      const covering = this.#covering(point)
      if (covering !== undefined && (!complete || covering.model.state !== 'pulling')) return this.#touch(covering)
      const partial = covering ?? this.#held.find((slot) => spans(slot.model, point))
      if (partial !== undefined) {
        await this.#resume(partial)
        const again = this.#covering(point) ?? this.#held.find((slot) => slot.id === partial.id && spans(slot.model, point))
        // A resumed window answers as of now even when it is still open and the point lies ahead.
        if (again !== undefined) return this.#touch(again)
        continue
      }
      const other = this.#pending.find((slot) => this.#mayBeSame(slot, point, undefined))
      if (other !== undefined) {
        // A failed fetch for this very point fails its waiters too; a merely nearby one does not.
        if (samePoint(other, point)) await other.fetching
        else await other.fetching?.catch(() => undefined)
        continue
      }
      const landed = await this.#fetchNew(point, undefined)
      if (landed === 'before') return this.#preCreation()
      if (spans(landed.model, point) || coversPoint(landed.model, point)) return this.#touch(landed)
    }
    throw new WindowConflict(`no window settles for ${JSON.stringify(point)}`)
  }

  /**
   * The window whose bounds a listing gave, fetched (or resumed) only if not held. Concurrent
   * calls for other windows run in parallel; the window is pinned until `release` is called.
   */
  async windowFor(span: { start: Bound; end: Bound | null }): Promise<Window> {
    const point: Point = { seq: span.start.seq }
    for (let round = 0; round < MAX_LOOKUPS; round++) {
      const held = this.#held.find((slot) => slot.model.start.seq === span.start.seq)
      if (held !== undefined) {
        const complete = held.model.state === 'committed' || held.model.state === 'live'
        const enough = span.end !== null && lastSeqOf(held.model) >= span.end.seq
        if (complete || enough) return this.#pin(held)
        await this.#resume(held)
        const after = this.#held.find((slot) => slot.id === held.id)
        if (after !== undefined && (span.end === null || lastSeqOf(after.model) >= span.end.seq)) return this.#pin(after)
        continue
      }
      const other = this.#pending.find((slot) => this.#mayBeSame(slot, point, span))
      if (other !== undefined) {
        if (samePoint(other, point)) await other.fetching
        else await other.fetching?.catch(() => undefined)
        continue
      }
      // Pinned as it lands, so that its start is left for the reader to derive (see `offerState`).
      const landed = await this.#fetchNew(point, span, true)
      if (landed !== 'before') return this.#pin(landed, false)
    }
    throw new WindowConflict(`window from seq ${span.start.seq} does not settle`)
  }

  /** Ends a `windowFor` pin: the window may be evicted again. */
  release(start: number): void {
    const slot = this.#held.find((held) => held.model.start.seq === start)
    if (slot !== undefined && slot.readers > 0) {
      slot.readers -= 1
      // A start left underived for its reader (see `offerState`) is derived now if it still is not.
      if (slot.readers === 0) {
        this.#share(this.#held.indexOf(slot))
        // Read through by histories only: evicted before any window used otherwise, latest fetched first.
        if (slot.scanned !== undefined) slot.used = -slot.scanned
      }
    }
    this.#evict()
  }

  /**
   * A reader replayed the held window `from` to its end: `state` is the state after its last
   * entry. The window after it starts from that state, so when its start is still the copy the
   * server sent (a history pins the windows it will read, and leaves that to it), it takes this
   * one instead: the same value, sharing structure with `from`, at no replay.
   */
  offerState(from: Window, state: Snapshot): void {
    // Kept for a window still on its way, which takes it as it lands.
    this.#offered = { entries: from.entries, state }
    const index = this.#held.findIndex((slot) => slot.model.start.seq === state.seq)
    if (index !== -1) this.#adopt(index)
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

  /** The state held without asking: `undefined` when no held window covers `ts`. */
  heldStateAt(ts: number): Snapshot | undefined {
    if (this.#created !== undefined && ts < this.#created.ts) return undefined
    const slot = this.#covering({ at: ts })
    return slot === undefined ? undefined : stateAtTs(slot.model, ts)
  }

  /**
   * The held windows covering `[from, to]` without a gap, first to last; `undefined` when any part
   * is not held (then a listing is needed).
   */
  heldRange(from: number, to: number): Array<{ start: Bound; end: Bound | null }> | undefined {
    let index =
      this.#created !== undefined && from < this.#created.ts
        ? this.#held.findIndex((slot) => slot.model.start.seq === 0)
        : this.#held.findLastIndex((slot) => coversTs(slot.model, from))
    if (index === -1) return undefined
    const spans: Array<{ start: Bound; end: Bound | null }> = []
    for (;;) {
      const slot = this.#held[index] as Held
      const model = slot.model
      spans.push({ start: { seq: model.start.seq, ts: model.start.ts }, end: model.end })
      if (coversTs(model, to)) return spans
      const next = this.#held[index + 1]
      if (model.state !== 'committed' || next === undefined || next.model.start.seq !== model.end.seq) return undefined
      index += 1
    }
  }

  // ── The live side: a tail feeds the open window. ─────────────────────────────────────────

  /**
   * Where a tail can resume without refetching: the last held window if it is open (live or
   * pulling with no end), with the head state. `undefined` means start afresh.
   */
  resumePoint(): Snapshot | undefined {
    const last = this.#held[this.#held.length - 1]
    if (last === undefined || last.model.end !== null) return undefined
    return replay(last.model.start, last.model.entries)
  }

  /** A tail received the open window (its first event); `tailed()` makes it live. */
  liveWindow(data: WindowData, size: number): void {
    if (data.start === null) return
    this.#ingest({ start: data.start, entries: data.entries, end: data.end }, size)
    this.#publish()
  }

  /** A tail connected (or resumed): the open window is live while at least one tail is. */
  tailed(): void {
    this.#tailers += 1
    const last = this.#held[this.#held.length - 1]
    if (last !== undefined && last.model.state === 'pulling' && last.model.end === null) {
      this.#apply(last, { type: 'tailed' })
      this.#publish()
    }
  }

  /** A tail stopped or lost its connection: the open window stays held, resumable. */
  untailed(): void {
    this.#tailers = Math.max(0, this.#tailers - 1)
    if (this.#tailers > 0) return
    for (const slot of this.#held) if (slot.model.state === 'live') this.#apply(slot, { type: 'untailed' })
    this.#publish()
  }

  /** A tail received an entry. Throws `WindowConflict` when it does not follow the held data. */
  liveEntry(entry: Entry, size: number): void {
    const open = this.#openSlot(entry.seq - 1)
    if (open === undefined) throw new WindowConflict(`entry ${entry.seq} follows no held window`)
    if (entry.seq <= lastSeqOf(open.model)) return
    this.#apply(open, { type: 'entry', entry })
    open.bytes += size
    this.#publish()
  }

  /** A tail was told the open window closed at `bound`: commit it and open the next one there. */
  liveBound(bound: Bound): void {
    const ended = this.#held.find((slot) => slot.model.end !== null && slot.model.end.seq === bound.seq)
    if (ended !== undefined) {
      // Already closed by a fetch: only the next open window is missing.
      this.#openAfter(ended)
    } else {
      const open = this.#held.find((slot) => slot.model.start.seq < bound.seq && spansSeq(slot.model, bound.seq))
      if (open === undefined) throw new WindowConflict(`bound ${bound.seq} closes no held window`)
      if (lastSeqOf(open.model) < bound.seq) throw new WindowConflict(`bound ${bound.seq} is ahead of the held entries`)
      this.#split(open, bound)
    }
    this.#publish()
  }

  /** Forgets everything (a stream deleted and recreated must not mix with what was held). */
  clear(): void {
    this.#held = []
    this.#offered = undefined
    this.#created = undefined
    this.#publish()
  }

  // ── Internals ───────────────────────────────────────────────────────────────────────────

  #beforeCreation(point: Point): boolean {
    return 'at' in point && this.#created !== undefined && point.at < this.#created.ts
  }

  #preCreation(): Window {
    const created = this.#created as Bound
    return { status: 'committed', start: null, entries: [], end: created }
  }

  #covering(point: Point): Held | undefined {
    // The last covering window wins: with several snapshots in one millisecond, the later is "the" window.
    for (let i = this.#held.length - 1; i >= 0; i--) {
      const slot = this.#held[i] as Held
      if (coversPoint(slot.model, point)) return slot
    }
    return undefined
  }

  /** Might the pending `slot` be fetching the window of `point` (whose extent may be known)? */
  #mayBeSame(slot: Slot, point: Point, span: { start: Bound; end: Bound | null } | undefined): boolean {
    if (slot.model.state !== 'pending') return false
    if (slot.span !== undefined) return inSpan(slot.span, point)
    if (span !== undefined) return inSpan(span, slot.model.point)
    // Neither extent is known: within one gap between held windows, they may well be one window.
    return this.#gapOf(point) === this.#gapOf(slot.model.point)
  }

  /** Identity of the held window just before `point`: pendings with the same one may overlap. */
  #gapOf(point: Point): number {
    let gap = -1
    for (const slot of this.#held) {
      const before = 'at' in point ? slot.model.start.ts <= point.at : slot.model.start.seq <= point.seq
      if (before) gap = slot.id
    }
    return gap
  }

  /** The held window entry `prev + 1` belongs to, opening the next one after a committed end. */
  #openSlot(prev: number): Held | undefined {
    const holding = this.#held.find((held) => {
      const model = held.model
      return model.start.seq <= prev && lastSeqOf(model) >= prev && (model.end === null || model.end.seq > prev)
    })
    if (holding !== undefined) return holding
    // A fetch committed the open window before the tail saw its bound: the next window starts at its end.
    const ended = this.#held.find((held) => held.model.end !== null && held.model.end.seq === prev)
    return ended === undefined ? undefined : this.#openAfter(ended)
  }

  /** The open window starting at the end of committed `ended`, made from held data. */
  #openAfter(ended: Held): Held {
    const end = ended.model.end as Bound
    const existing = this.#held.find((held) => held.model.start.seq === end.seq)
    if (existing !== undefined) return existing
    const start = replay(ended.model.start, ended.model.entries)
    return this.#insert({ state: this.#tailers > 0 ? 'live' : 'pulling', start, entries: [], end: null }, 0, true)
  }

  /** Closes `slot` at `bound`; entries after it move to a new open window starting there. */
  #split(slot: Held, bound: Bound): void {
    const model = slot.model
    const keep = model.entries.filter((entry) => entry.seq <= bound.seq)
    const rest = model.entries.filter((entry) => entry.seq > bound.seq)
    const wasLive = model.state === 'live'
    const closed: WindowModel = { state: 'committed', start: model.start, entries: keep, end: bound }
    const fraction = model.entries.length === 0 ? 0 : keep.length / model.entries.length
    const start = replay(model.start, keep)
    this.#set(slot, closed)
    const restBytes = Math.round(slot.bytes * (1 - fraction))
    slot.bytes -= restBytes
    if (!this.#held.some((held) => held.model.start.seq === bound.seq)) {
      const next: WindowModel =
        wasLive && model.end === null
          ? { state: 'live', start, entries: rest, end: null }
          : { state: 'pulling', start, entries: rest, end: model.end }
      this.#insert(next, restBytes, true)
    }
  }

  async #resume(slot: Held): Promise<void> {
    if (slot.fetching === undefined) {
      const after = lastSeqOf(slot.model)
      slot.fetching = this.#fetch({ point: { seq: slot.model.start.seq }, after })
        .then(({ data, size }) => {
          if (data.start === null) return
          this.#ingest({ start: data.start, entries: data.entries, end: data.end }, size)
        })
        .finally(() => {
          slot.fetching = undefined
          this.#publish()
        })
    }
    await slot.fetching
  }

  /** Fetches the window of `point`; with `pin`, the window it lands in is pinned for the caller (`release`). */
  async #fetchNew(point: Point, span: { start: Bound; end: Bound | null } | undefined, pin = false): Promise<Held | 'before'> {
    const slot: Slot = {
      id: this.#nextId++,
      model: { state: 'pending', point },
      fetching: undefined,
      span,
      bytes: 0,
      used: ++this.#clock,
      readers: 0,
    }
    let landed: Held | 'before' | undefined
    slot.fetching = this.#fetch({ point }).then(({ data, size }) => {
      if (data.start === null) {
        if (data.end !== null) this.#created = data.end
        landed = 'before'
        return
      }
      landed = this.#ingest({ start: data.start, entries: data.entries, end: data.end }, size, pin ? 1 : 0)
    })
    this.#pending.push(slot)
    this.#report(slot)
    this.#publish()
    try {
      await slot.fetching
    } finally {
      this.#pending = this.#pending.filter((pending) => pending !== slot)
      if (landed === undefined) this.#report(slot, true)
      this.#publish()
    }
    if (landed === undefined) throw new WindowConflict('the fetched window overlaps held data it cannot join')
    return landed
  }

  /** Adds received content to the held windows: merged into its window, or inserted in order. */
  #ingest(content: WindowContent, size: number, readers = 0): Held | undefined {
    if (content.start.seq === 0) this.#created = { seq: 0, ts: content.start.ts }
    const same = this.#held.find((slot) => slot.model.start.seq === content.start.seq)
    if (same !== undefined) {
      const before = lastSeqOf(same.model)
      same.readers += readers
      this.#apply(same, { type: 'received', content })
      if (lastSeqOf(same.model) > before) same.bytes += size
      this.#evict(same)
      return same
    }
    // A held window running past this start missed a bound (a tail that resumed): split it.
    const across = this.#held.find((slot) => slot.model.start.seq < content.start.seq && content.start.seq < lastSeqOf(slot.model))
    if (across !== undefined && (across.model.end === null || across.model.end.seq > content.start.seq)) {
      this.#split(across, { seq: content.start.seq, ts: content.start.ts })
      return this.#ingest(content, size, readers)
    }
    const model = transition({ state: 'pending', point: { seq: content.start.seq } }, { type: 'received', content })
    if (model === undefined || model.state === 'pending') return undefined
    const slot = this.#insert(model, size, false, readers)
    this.#evict(slot)
    return slot
  }

  /** Inserts a held window in order; `derived` when its start was already replayed from the one before. */
  #insert(model: Exclude<WindowModel, { state: 'pending' }>, bytes: number, derived = false, readers = 0): Held {
    const slot: Held = { id: this.#nextId++, model, fetching: undefined, span: undefined, bytes, used: ++this.#clock, readers }
    // Landed pinned: a history fetched it.
    if (readers > 0) slot.scanned = slot.used
    const at = this.#held.findIndex((held) => held.model.start.seq > model.start.seq)
    if (at === -1) this.#held.push(slot)
    else this.#held.splice(at, 0, slot)
    this.#share(at === -1 ? this.#held.length - 1 : at, !derived)
    this.#report(slot)
    return slot
  }

  /**
   * Makes the start state of the window at `index` share structure with its neighbours'. A start
   * state as the server sent it is a full parsed copy (100 windows of a 1 MB state would take
   * 100 MB); the same state replayed from the committed window before it shares every subtree that
   * window's entries left alone.
   * - After a committed window: replay it (one window replay), unless already derived from it.
   * - Else before a held window: keep the fresh state but take every equal subtree from the next
   *   window's start (one walk of the state), which leaves the windows after that one untouched.
   * - A committed window whose start now follows the run before it passes it on down the run of
   *   held windows after it, re-deriving each (so two runs joined by a gap filled become one; the
   *   next window fetched in order costs one replay, a gap filled costs the run after it).
   * `fromPrevious: false` when the start was just replayed from the window before (a split).
   */
  #share(index: number, fromPrevious = true): void {
    const slot = this.#held[index]
    if (slot === undefined) return
    const previous = this.#held[index - 1]
    const next = this.#held[index + 1]
    let changed = false
    if (previous !== undefined && endsAt(previous, slot)) {
      if (!fromPrevious) slot.derivedFrom = previous.id
      else if (slot.derivedFrom !== previous.id) {
        // A reader pinning it replays `previous` anyway: it offers the state, or release derives it.
        if (this.#adopt(index) || slot.readers > 0) return
        rederive(previous, slot)
        changed = true
      }
    } else if (next !== undefined && endsAt(slot, next)) {
      slot.model = { ...slot.model, start: { ...slot.model.start, state: shareEqual(slot.model.start.state, next.model.start.state) } }
      shareStart(slot, next)
      return
    }
    this.#passDown(index, changed)
  }

  /** Takes the offered state as the start of the window at `index` if it is due to be derived from the window before. */
  #adopt(index: number): boolean {
    const slot = this.#held[index]
    const previous = this.#held[index - 1]
    const offered = this.#offered
    if (slot === undefined || previous === undefined || offered === undefined) return false
    // Only a state replayed from this very window before (its entries, not a namesake's).
    if (offered.entries !== previous.model.entries || offered.state.seq !== slot.model.start.seq) return false
    if (!endsAt(previous, slot) || slot.derivedFrom === previous.id) return false
    this.#offered = undefined
    slot.model = { ...slot.model, start: { seq: slot.model.start.seq, ts: slot.model.start.ts, state: offered.state.state } }
    slot.derivedFrom = previous.id
    shareStart(slot, previous)
    this.#passDown(index, true)
    return true
  }

  /** Passes the start of the window at `index` on down the run after it, until a window already derived from the one before (all of them when `changed`). */
  #passDown(index: number, changed: boolean): void {
    let from = this.#held[index] as Held
    for (let i = index + 1; i < this.#held.length; i++) {
      const to = this.#held[i] as Held
      if (!endsAt(from, to) || (!changed && to.derivedFrom === from.id)) break
      if (to.readers > 0) {
        // Left for its reader, or derived on release.
        if (to.derivedFrom === from.id) delete to.derivedFrom
        break
      }
      rederive(from, to)
      changed = true
      from = to
    }
  }

  #apply(slot: Held, event: WindowEvent): void {
    const next = transition(slot.model, event)
    if (next === undefined || next.state === 'pending') {
      this.#held = this.#held.filter((held) => held !== slot)
      unshare(this.#held, slot)
      this.#report(slot, true)
      return
    }
    this.#set(slot, next)
  }

  #set(slot: Held, model: Held['model']): void {
    const changed = slot.model.state !== model.state || slot.model.end !== model.end
    const committed = model.state === 'committed' && slot.model.state !== 'committed'
    slot.model = model
    // Now complete, it can give its start to the window after it, and take one from the window before.
    if (committed) this.#share(this.#held.indexOf(slot))
    if (changed) this.#report(slot)
  }

  #touch(slot: Held): Window {
    slot.used = ++this.#clock
    slot.scanned = undefined
    return viewOf(slot.model)
  }

  /** Pins `slot` for a history (`pin: false` when it landed pinned already). */
  #pin(slot: Held, pin = true): Window {
    if (pin) slot.readers += 1
    slot.used = ++this.#clock
    return viewOf(slot.model)
  }

  /** Evicts committed windows nobody reads, in `used` order, until the budget holds. */
  #evict(keep?: Held): void {
    let total = this.bytes
    if (total <= this.#maxBytes) return
    const candidates = this.#held
      .filter((slot) => slot.model.state === 'committed' && slot.readers === 0 && slot !== keep)
      .sort((a, b) => a.used - b.used)
    for (const slot of candidates) {
      if (total <= this.#maxBytes) break
      this.#held = this.#held.filter((held) => held !== slot)
      total += unshare(this.#held, slot) - slot.bytes
      this.#report(slot, true)
    }
  }

  #report(slot: Slot, removed = false): void {
    this.#onTransition?.(viewOfSlot(slot), removed)
  }

  #publish(): void {
    const views = [...this.#held.map(viewOfSlot), ...this.#pending.map(viewOfSlot)]
    this.#windows$.next(views)
  }
}

export type { Point }
