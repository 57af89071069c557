/**
 * The checkpoint cache's own rules (`window-checkpoints.ts`): a point is found in the window held
 * whose span holds it strictly inside, as the log would name it, and nowhere else; a window out of
 * the budget is no longer found; and a time turns into the seq of the last entry at or before it.
 */
import { expect, test } from 'vitest'
import { forkLineage, ownLineage } from '../src/lineage.ts'
import { CheckpointCache, seqAtTime } from '../src/window-checkpoints.ts'
import type { WindowCheckpoints } from '../src/window-checkpoints.ts'

/** A closed window of `entries` entries from seq `start`, one ms apart from `ts`, its end the next snapshot. */
function window(start: number, ts: number, entries: number, bytes = 100): WindowCheckpoints {
  const times = Float64Array.from({ length: entries }, (_, i) => ts + 1 + i)
  return {
    end: { seq: start + entries, ts: ts + entries },
    gpos: String(start + entries),
    checked: 0,
    points: [{ seq: start, ts, state: { at: start } }],
    times,
    bytes,
  }
}

const startOf = (found: WindowCheckpoints | undefined): number | undefined => found?.points[0]?.seq

test('a point is found in the window whose span holds it, by time or by seq', () => {
  const cache = new CheckpointCache(1 << 20)
  const segments = ownLineage(7)
  // Windows [0, 10) at ts [100, 110) and [10, 20) at [110, 120); [30, 40) held, [20, 30) not.
  cache.set(segments, 0, window(0, 100, 10))
  cache.set(segments, 30, window(30, 130, 10))
  cache.set(segments, 10, window(10, 110, 10))
  expect(startOf(cache.find(segments, { at: 100 }))).toBe(0)
  expect(startOf(cache.find(segments, { at: 109 }))).toBe(0)
  // A window's end is the next one's start: the later one holds it.
  expect(startOf(cache.find(segments, { at: 110 }))).toBe(10)
  expect(startOf(cache.find(segments, { seq: 10 }))).toBe(10)
  expect(startOf(cache.find(segments, { seq: 19 }))).toBe(10)
  // In no window held: the one not held, before the first, past the last.
  expect(cache.find(segments, { at: 125 })).toBeUndefined()
  expect(cache.find(segments, { seq: 20 })).toBeUndefined()
  expect(cache.find(segments, { at: 99 })).toBeUndefined()
  expect(cache.find(segments, { seq: 40 })).toBeUndefined()
  expect(startOf(cache.find(segments, { seq: 39 }))).toBe(30)
  // Another stream's lineage, and a fork's (whose windows read other rows), find nothing here.
  expect(cache.find(ownLineage(8), { seq: 5 })).toBeUndefined()
  expect(cache.find(forkLineage(segments, 9, 15, 10), { seq: 5 })).toBeUndefined()
})

test('a window whose bounds share a time is never found by time', () => {
  const cache = new CheckpointCache(1 << 20)
  const segments = ownLineage(1)
  const flat = window(0, 100, 5)
  flat.end = { seq: 5, ts: 100 }
  cache.set(segments, 0, flat)
  expect(cache.find(segments, { at: 100 })).toBeUndefined()
  expect(startOf(cache.find(segments, { seq: 3 }))).toBe(0)
})

test('a window evicted from the budget, or dropped, is no longer found', () => {
  const cache = new CheckpointCache(250)
  const segments = ownLineage(1)
  cache.set(segments, 0, window(0, 100, 10))
  cache.set(segments, 10, window(10, 110, 10))
  // The least recently used goes to make room for a third.
  expect(startOf(cache.find(segments, { seq: 3 }))).toBe(0)
  cache.set(segments, 20, window(20, 120, 10))
  expect(cache.windows).toBe(2)
  expect(cache.find(segments, { seq: 15 })).toBeUndefined()
  expect(startOf(cache.find(segments, { seq: 3 }))).toBe(0)
  expect(startOf(cache.find(segments, { seq: 25 }))).toBe(20)
  cache.delete(segments, 0)
  expect(cache.find(segments, { seq: 3 })).toBeUndefined()
  // One over the whole budget is not held, and not found.
  cache.set(segments, 30, window(30, 130, 10, 1000))
  expect(cache.find(segments, { seq: 35 })).toBeUndefined()
  // Replaced under its key: found once, as the new one.
  const again = window(20, 120, 10)
  cache.set(segments, 20, again)
  expect(cache.find(segments, { seq: 25 })?.points).toBe(again.points)
  expect(cache.windows).toBe(1)
})

test('a time turns into the seq of the last entry at or before it', () => {
  const held = window(50, 1000, 4)
  // Entries 51..54 at ts 1001..1004; two of them share a time.
  held.times = Float64Array.from([1001, 1002, 1002, 1004])
  expect(seqAtTime(held, 1000)).toBe(50)
  expect(seqAtTime(held, 1001)).toBe(51)
  expect(seqAtTime(held, 1002)).toBe(53)
  expect(seqAtTime(held, 1003)).toBe(53)
  expect(seqAtTime(held, 5000)).toBe(54)
  held.times = undefined
  expect(seqAtTime(held, 1002)).toBeUndefined()
})
