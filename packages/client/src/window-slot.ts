/**
 * A held window's slot in the `WindowStore`, and the pure helpers the store applies to slots.
 */
import { replay } from '@statestream/common'
import type { Bound } from '@statestream/common'
import type { Point, WindowModel } from './window-state.ts'
import type { Window, WindowView } from './window-store.ts'

export interface Slot {
  id: number
  model: WindowModel
  /** The fetch under way for this slot, shared by every waiter. */
  fetching: Promise<void> | undefined
  /** Known extent of a pending slot (from a window listing). */
  span: { start: Bound; end: Bound | null } | undefined
  /** Estimated bytes held. */
  bytes: number
  /** Last use, for LRU eviction. */
  used: number
  /** Readers pinning it (a `history` that will read it). */
  readers: number
  /** Id of the held window whose entries replayed gave this one's start state, if one did. */
  derivedFrom?: number
}

export type Held = Slot & { model: Exclude<WindowModel, { state: 'pending' }> }

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
}

/** True when `from` is committed and ends where `to` starts: `to`'s start is `from`'s end state. */
export function endsAt(from: Held, to: Held): boolean {
  return from.model.state === 'committed' && from.model.end.seq === to.model.start.seq
}

export function viewOf(model: Exclude<WindowModel, { state: 'pending' }>): Window {
  return { state: model.state, start: model.start, entries: model.entries, end: model.end }
}

export function viewOfSlot(slot: Slot): WindowView {
  const model = slot.model
  if (model.state === 'pending') return { state: 'pending', start: undefined, end: null, entries: 0, point: model.point }
  return { state: model.state, start: { seq: model.start.seq, ts: model.start.ts }, end: model.end, entries: model.entries.length }
}

