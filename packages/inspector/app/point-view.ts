/**
 * What the inspector shows of one stream at time T, computed from the window covering T: the
 * state, the entry that made it (the last with ts ≤ T, when it is in this window) and the members
 * that entry changed. Only the window is kept, never a state per entry: a state is replayed from
 * the window's start snapshot when T moves.
 */
import type { Entry, Json, Window } from '@statestream/client'
import { apply, diff, entriesUpToTs, replay } from '@statestream/common'

/** The stream at T. */
export interface PointView {
  at: number
  /** The seq and ts of the last entry the state includes; `null` before the stream existed. */
  seq: number | null
  ts: number | null
  state: Json | undefined
  /** The window's entries (for the entry list). */
  entries: readonly Entry[]
  /** The entry at T, when it is one of this window's (not the one its start snapshot follows). */
  entry: Entry | undefined
  /** JSON Pointers that entry added, replaced or removed. */
  changed: ReadonlySet<string>
}

/** The view at `at` from `window`, the window covering it. */
export function pointView(window: Window, at: number): PointView {
  if (window.start === null) return { at, seq: null, ts: null, state: undefined, entries: window.entries, entry: undefined, changed: new Set() }
  const count = entriesUpToTs(window.entries, at)
  if (count === 0) {
    return { at, seq: window.start.seq, ts: window.start.ts, state: window.start.state, entries: window.entries, entry: undefined, changed: new Set() }
  }
  const entry = window.entries[count - 1] as Entry
  const before = replay(window.start, window.entries, count - 1).state
  const state = apply(before, entry.m)
  const changed = new Set(diff(before, state).map((op) => op.path))
  return { at, seq: entry.seq, ts: entry.ts, state, entries: window.entries, entry, changed }
}
