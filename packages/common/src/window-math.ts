/**
 * The window arithmetic of §1, shared by server and client so both answer alike:
 * - the state at T is the state after every entry with `ts ≤ T`;
 * - the window for T starts at the last snapshot with `ts ≤ T`;
 * - the window for seq n starts at the last snapshot with `seq ≤ n`.
 * Snapshots are listed in log order, so both searches are binary searches over bounds.
 */
import { applySequence } from './mutation.ts'
import type { Bound, Entry, Json } from './types.ts'

/**
 * Index of the last bound in `starts` (ascending seq, hence non-decreasing ts) whose `ts ≤ ts`;
 * -1 when `ts` is before the first (before the stream existed).
 */
export function windowIndexAt(starts: readonly Bound[], ts: number): number {
  return lastIndex(starts, (bound) => bound.ts <= ts)
}

/** Index of the last bound in `starts` whose `seq ≤ seq`; -1 when there is none. */
export function windowIndexForSeq(starts: readonly Bound[], seq: number): number {
  return lastIndex(starts, (bound) => bound.seq <= seq)
}

/** Last index for which the monotone predicate (true…true false…false) holds; -1 if none. */
function lastIndex<T>(items: readonly T[], holds: (item: T) => boolean): number {
  let lo = 0
  let hi = items.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (holds(items[mid] as T)) lo = mid + 1
    else hi = mid
  }
  return lo - 1
}

/** Number of leading entries (sorted by seq) with `ts ≤ ts`: the ones the state at `ts` includes. */
export function entriesUpToTs(entries: readonly Entry[], ts: number): number {
  return lastIndex(entries, (entry) => entry.ts <= ts) + 1
}

/** Number of leading entries with `seq ≤ seq`. */
export function entriesUpToSeq(entries: readonly Entry[], seq: number): number {
  return lastIndex(entries, (entry) => entry.seq <= seq) + 1
}

/**
 * Replays the first `count` of `entries` onto `state`, returning the resulting state and the
 * bound of the last entry applied (or `start` if none).
 */
export function replay(
  start: { seq: number; ts: number; state: Json },
  entries: readonly Entry[],
  count: number = entries.length,
): { seq: number; ts: number; state: Json } {
  const last = count > 0 ? entries[count - 1] : undefined
  if (last === undefined) return { seq: start.seq, ts: start.ts, state: start.state }
  const mutations = (function* () {
    for (let i = 0; i < count; i++) yield (entries[i] as Entry).m
  })()
  return { seq: last.seq, ts: last.ts, state: applySequence(start.state, mutations) }
}
