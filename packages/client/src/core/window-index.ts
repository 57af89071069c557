/**
 * The held windows of one stream, in time order, and the pending requests for windows not held
 * yet: the one source of truth of what the client knows of a stream. Pure and synchronous: it
 * ingests answers, splits and opens windows as a tail reports bounds, derives the head (the state
 * after the last entry of the open window) and lets windows go for the client's memory budget.
 * `plan.ts` decides what a request needs of it; the store runs those plans; the tails feed it
 * through `live-feed.ts`.
 */
import type { Bound, Snapshot, WindowData } from '@statestream/common'
import { coversTs } from './cover.ts'
import { headOf, shareAt, unshare } from './sharing.ts'
import type { Shared } from './sharing.ts'
import { WindowConflict, lastSeqOf, transition } from './window-machine.ts'
import type { HeldModel, Point, WindowContent, WindowEvent, WindowStatus } from './window-machine.ts'
import type { BudgetMember, MemoryBudget } from './budget.ts'

/** A held window with its bookkeeping. */
export interface Held extends Shared {
  /** Eviction order (the budget's clock at its last use; negative once only histories read it). */
  used: number
  /** The clock when it landed, while only a history has used it. */
  scanned?: number | undefined
  /** Readers pinning it (a `history` that will read it). */
  readers: number
}

/** A request for a window not held yet: what it was asked for by, and its extent when a listing gave it. */
export interface Pending {
  id: number
  point: Point
  span: Span | undefined
}

/** A window's extent as a listing gives it. */
export interface Span {
  start: Bound
  end: Bound | null
}

/** One line of `windows$`: a window's status and bounds (entries counted, not listed). */
export interface WindowView {
  status: WindowStatus
  /** Start bound; `undefined` while pending. */
  start: Bound | undefined
  /** End bound; `null` while open or not known. */
  end: Bound | null
  /** Entries held. */
  entries: number
  /** What a pending window was asked for by. */
  point?: Point
}

/** Told of each window that changed status, or was removed. */
export type ChangeListener = (view: WindowView, removed: boolean) => void

export class WindowIndex implements BudgetMember<Held> {
  /** Windows with data, ordered by start seq; they never overlap. */
  held: Held[] = []
  pending: Pending[] = []
  /** The creation bound (seq 0), once any answer revealed it. */
  created: Bound | undefined
  /** The end of a closed stream, once known: its last window ends there, and every later point falls in it. */
  final: Bound | undefined
  /** Connected tails feeding this index: the open window is live while there is one. */
  tailers = 0
  readonly budget: MemoryBudget
  readonly #onChange: ChangeListener
  #nextId = 1

  constructor(budget: MemoryBudget, onChange: ChangeListener = () => undefined) {
    this.budget = budget
    this.#onChange = onChange
  }

  get bytes(): number {
    let total = 0
    for (const slot of this.held) total += slot.bytes
    return total
  }

  /** True when it holds nothing and asks for nothing: it may be dropped. */
  get empty(): boolean {
    return this.held.length === 0 && this.pending.length === 0 && this.tailers === 0
  }

  /** The window, if any, holding entry `seq` or able to take it next. */
  find(seq: number): Held | undefined {
    return this.held.find((slot) => slot.model.start.seq <= seq && (slot.model.end === null || slot.model.end === undefined || seq <= slot.model.end.seq))
  }

  /** The open window, as far as answers told: the last held one, when its end is `null`. */
  get open(): Held | undefined {
    const last = this.held[this.held.length - 1]
    return last !== undefined && last.model.end === null ? last : undefined
  }

  /** The state after the last entry of the open window, if one is held. */
  head(): Snapshot | undefined {
    const open = this.open
    return open === undefined ? undefined : headOf(open)
  }

  /** A request for a window not held. */
  addPending(point: Point, span: Span | undefined): Pending {
    const pending: Pending = { id: this.#nextId++, point, span }
    this.pending.push(pending)
    this.#onChange(viewOfPending(pending), false)
    return pending
  }

  /** The request is over (its answer, if any, was ingested). */
  settle(pending: Pending, landed: boolean): void {
    this.pending = this.pending.filter((other) => other !== pending)
    if (!landed) this.#onChange(viewOfPending(pending), true)
  }

  /**
   * Adds an answer: merged into its window, or inserted in order (a held window running past its
   * start is split there first). `pinned` when a history fetched it and will read it.
   */
  ingest(content: WindowContent, bytes: number, pinned = false): Held {
    if (content.start.seq === 0) {
      // A creation at another time: another history of the name (deleted and created again).
      if (this.created !== undefined && this.created.ts !== content.start.ts) {
        throw new WindowConflict(`the stream was created at ${content.start.ts}; the windows held are of one created at ${this.created.ts}`)
      }
      this.created = { seq: 0, ts: content.start.ts }
    }
    // A window that ends where it starts is a closed stream's only one, without entries.
    if (content.end?.seq === content.start.seq) this.final = content.end
    const same = this.held.find((slot) => slot.model.start.seq === content.start.seq)
    if (same !== undefined) {
      const before = lastSeqOf(same.model)
      if (pinned) same.readers += 1
      this.apply(same, { type: 'received', content })
      if (lastSeqOf(same.model) > before || content.entries.length === 0) same.bytes += bytes
      return same
    }
    // A held window running past this start missed a bound (a tail that resumed): split it there.
    const across = this.held.find((slot) => slot.model.start.seq < content.start.seq && content.start.seq < lastSeqOf(slot.model))
    if (across !== undefined) {
      this.split(across, { seq: content.start.seq, ts: content.start.ts })
      return this.ingest(content, bytes, pinned)
    }
    const model = transition({ status: 'pending', point: { seq: content.start.seq } }, { type: 'received', content }) as HeldModel
    return this.insert(model, bytes, { readers: pinned ? 1 : 0 })
  }

  /** The creation bound an answer for the time before the stream revealed. */
  learnCreated(data: WindowData): void {
    if (data.start !== null || data.end === null) return
    if (this.created !== undefined && this.created.ts !== data.end.ts) {
      throw new WindowConflict(`the stream was created at ${data.end.ts}; the windows held are of one created at ${this.created.ts}`)
    }
    this.created = data.end
  }

  /** Inserts a held window in order and shares its start with its neighbours. */
  insert(model: HeldModel, bytes: number, options: { readers?: number; derivedFrom?: Held } = {}): Held {
    const used = this.budget.tick()
    const slot: Held = { id: this.#nextId++, model, bytes, used, readers: options.readers ?? 0 }
    if (slot.readers > 0) slot.scanned = used
    const at = this.held.findIndex((held) => held.model.start.seq > model.start.seq)
    const index = at === -1 ? this.held.length : at
    this.held.splice(index, 0, slot)
    if (options.derivedFrom !== undefined) slot.derivedFrom = options.derivedFrom.id
    this.share(index)
    this.#onChange(viewOf(slot), false)
    return slot
  }

  /** Closes `slot` at `bound`; entries after it move to a new window starting there. */
  split(slot: Held, bound: Bound): Held | undefined {
    const model = slot.model
    const keep = model.entries.filter((entry) => entry.seq <= bound.seq)
    const rest = model.entries.filter((entry) => entry.seq > bound.seq)
    const start = headOf({ ...slot, model: { ...model, entries: keep } })
    const restBytes = model.entries.length === 0 ? 0 : Math.round((slot.bytes * rest.length) / model.entries.length)
    const next: HeldModel =
      model.status === 'live'
        ? { status: 'live', start, entries: rest, end: null }
        : { status: 'pulling', start, entries: rest, end: model.end === undefined ? undefined : model.end }
    this.set(slot, { status: 'committed', start: model.start, entries: keep, end: bound })
    slot.bytes -= restBytes
    if (this.held.some((held) => held.model.start.seq === bound.seq)) return undefined
    return this.insert(next, restBytes, { derivedFrom: slot })
  }

  /** Applies an event to a held window (removing it if the table says so). */
  apply(slot: Held, event: WindowEvent): void {
    const next = transition(slot.model, event)
    if (next === undefined || next.status === 'pending') {
      this.held = this.held.filter((held) => held !== slot)
      unshare(this.held, slot)
      this.#onChange(viewOf(slot), true)
      return
    }
    this.set(slot, next)
  }

  /** Marks `slot` used now (a point read): it goes last. */
  touch(slot: Held): void {
    slot.used = this.budget.tick()
    slot.scanned = undefined
  }

  /** Pins `slot` for a reader (`release` ends it). */
  pin(slot: Held): void {
    slot.readers += 1
    slot.used = this.budget.tick()
  }

  /** Ends a pin of the window starting at `start`. */
  release(start: number): void {
    const slot = this.held.find((held) => held.model.start.seq === start)
    if (slot === undefined || slot.readers === 0) return
    slot.readers -= 1
    if (slot.readers > 0) return
    // A start left underived for its reader is derived now, if it still is not.
    this.share(this.held.indexOf(slot))
    // Read through by histories only: evicted before any window used otherwise, latest fetched first.
    if (slot.scanned !== undefined) slot.used = -slot.scanned
  }

  /** The windows that may go now: any read by nobody and fed by no tail (a live one is in use). */
  candidates(keep: unknown): Held[] {
    return this.held.filter((slot) => slot !== keep && slot.readers === 0 && slot.model.status !== 'live')
  }

  evict(slot: Held): number {
    if (!this.held.includes(slot)) return 0
    const before = this.bytes
    this.apply(slot, { type: 'evicted' })
    return before - this.bytes
  }

  /** Forgets everything (a stream deleted and recreated must not mix with what was held). */
  clear(): void {
    for (const slot of this.held) this.#onChange(viewOf(slot), true)
    this.held = []
    this.created = undefined
    this.final = undefined
  }

  /** The held windows covering `[from, to]` without a gap, first to last; `undefined` when any part is not held. */
  heldRange(from: number, to: number): Span[] | undefined {
    const held = this.held
    let i = this.created !== undefined && from < this.created.ts ? held.findIndex((slot) => slot.model.start.seq === 0) : held.findLastIndex((slot) => this.#covers(slot, from))
    if (i === -1) return undefined
    const out: Span[] = []
    for (;;) {
      const { model } = held[i] as Held
      out.push({ start: { seq: model.start.seq, ts: model.start.ts }, end: model.end ?? null })
      if (this.#covers(held[i] as Held, to)) return out
      const next = held[i + 1]
      if (model.status !== 'committed' || next === undefined || next.model.start.seq !== model.end.seq) return undefined
      i += 1
    }
  }

  /** True when the held data of `slot` answers the state at `ts`: a closed stream's last window answers every time after its start. */
  #covers(slot: Held, ts: number): boolean {
    const { model } = slot
    if (this.final !== undefined && model.status === 'committed' && model.end.seq === this.final.seq && ts >= model.start.ts) return true
    return coversTs(model, ts)
  }

  /** Every window, held then pending, as `windows$` shows them. */
  views(): WindowView[] {
    return [...this.held.map(viewOf), ...this.pending.map(viewOfPending)]
  }

  /** Shares the start of the window at `index` with its neighbours (see `sharing.ts`). */
  share(index: number): void {
    shareAt(this.held, index)
  }

  set(slot: Held, model: HeldModel): void {
    const changed = slot.model.status !== model.status || slot.model.end !== model.end
    const committed = model.status === 'committed' && slot.model.status !== 'committed'
    slot.model = model
    // Now complete, it can give its start to the window after it, and take one from the window before.
    if (committed) this.share(this.held.indexOf(slot))
    if (changed) this.#onChange(viewOf(slot), false)
  }
}

export function viewOf(slot: Held): WindowView {
  const { model } = slot
  return { status: model.status, start: { seq: model.start.seq, ts: model.start.ts }, end: model.end ?? null, entries: model.entries.length }
}

function viewOfPending(pending: Pending): WindowView {
  return { status: 'pending', start: undefined, end: null, entries: 0, point: pending.point }
}

