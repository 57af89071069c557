/**
 * A held window's slot in the `WindowStore`, and the pure helpers the store applies to slots.
 */
import { replay } from '@statestream/common'
import type { Bound, Entry, Json, Snapshot } from '@statestream/common'
import type { Point, WindowModel, WindowState } from './window-state.ts'

/** A held window as readers see it. `start` is `null` only for the time before the stream existed. */
export interface Window<S = Json> {
  /** Where the window is in its life (never `pending`: a window handed out has its data). */
  status: Exclude<WindowState, 'pending'>
  start: Snapshot<S> | null
  entries: readonly Entry[]
  end: Bound | null
}

/** One line of `windows$`: a held window's state and bounds (entries counted, not listed). */
export interface WindowView {
  status: WindowState
  /** Start bound; `undefined` while pending. */
  start: Bound | undefined
  end: Bound | null
  /** Entries held. */
  entries: number
  /** What a pending window was asked for by. */
  point?: Point
}

/** A window the store holds or is fetching, with its bookkeeping. */
export interface Slot {
  id: number
  model: WindowModel
  /** The fetch under way for this slot, shared by every waiter. */
  fetching: Promise<void> | undefined
  /** Known extent of a pending slot (from a window listing). */
  span: { start: Bound; end: Bound | null } | undefined
  /** Estimated bytes held. */
  bytes: number
  /**
   * Eviction order, lowest first: the clock at its last use, or, for a window only histories
   * have read, minus the clock when it landed (the latest fetched goes first).
   */
  used: number
  /** The clock when it landed, if a history fetched it and nothing else has used it since. */
  scanned?: number | undefined
  /** Readers pinning it (a `history` that will read it). */
  readers: number
  /** Id of the held window whose entries replayed gave this one's start state, if one did. */
  derivedFrom?: number
  /**
   * Id of the held window whose structure this one's start state shares (by replay, or by taking
   * its equal subtrees); its start then counts in that window's bytes, not in this one's.
   */
  sharedWith?: number
  /** Bytes of the start state left out of `bytes` while shared (as the server sent it, about). */
  startBytes?: number
}

export type Held = Slot & { model: Exclude<WindowModel, { state: 'pending' }> }

/** True when pending `slot` was asked for by exactly `point`. */
export function samePoint(slot: Slot, point: Point): boolean {
  if (slot.model.state !== 'pending') return false
  const other = slot.model.point
  return 'at' in point ? 'at' in other && other.at === point.at : 'seq' in other && other.seq === point.seq
}

/**
 * Replaces the start state of `to` with the end state of committed `from` when `from` ends where
 * `to` starts: the same state (both are the state after `from`'s last entry), but made by
 * replaying `from`'s entries onto its start, so it shares every subtree they left untouched.
 */
export function rederive(from: Held, to: Held): void {
  const start = to.model.start
  const state = replay(from.model.start, from.model.entries).state
  to.model = { ...to.model, start: { seq: start.seq, ts: start.ts, state } }
  to.derivedFrom = from.id
  shareStart(to, from)
}

/**
 * `slot`'s start state now shares its structure with `other`: its bytes, which counted a whole
 * start state as fetched, count only the rest (a run of windows over one large state then costs
 * about one state plus its entries, not one state per window).
 */
export function shareStart(slot: Held, other: Held): void {
  if (slot.sharedWith === undefined && slot.startBytes === undefined) {
    const bytes = Math.min(slot.bytes, JSON.stringify(slot.model.start.state).length)
    slot.startBytes = bytes
    slot.bytes -= bytes
  }
  slot.sharedWith = other.id
}

/** Window `gone` was dropped: the windows sharing its structure own their start states alone again. Returns the bytes added back. */
export function unshare(held: readonly Held[], gone: Slot): number {
  let added = 0
  for (const slot of held) {
    if (slot.sharedWith !== gone.id) continue
    added += slot.startBytes ?? 0
    slot.bytes += slot.startBytes ?? 0
    delete slot.sharedWith
    delete slot.startBytes
    if (slot.derivedFrom === gone.id) delete slot.derivedFrom
  }
  return added
}

/** True when `from` is committed and ends where `to` starts: `to`'s start is `from`'s end state. */
export function endsAt(from: Held, to: Held): boolean {
  return from.model.state === 'committed' && from.model.end.seq === to.model.start.seq
}

export function viewOf(model: Exclude<WindowModel, { state: 'pending' }>): Window {
  return { status: model.state, start: model.start, entries: model.entries, end: model.end }
}

export function viewOfSlot(slot: Slot): WindowView {
  const model = slot.model
  if (model.state === 'pending') return { status: 'pending', start: undefined, end: null, entries: 0, point: model.point }
  return { status: model.state, start: { seq: model.start.seq, ts: model.start.ts }, end: model.end, entries: model.entries.length }
}

