/**
 * Window arithmetic (§1 time semantics): which window covers a time or a seq, checked on edge
 * cases and against a naive linear scan over generated bounds.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { windowIndexAt, windowIndexForSeq } from '../src/index.ts'
import type { Bound } from '../src/index.ts'

/** The model: scan every bound, keep the last that qualifies. */
function naiveLast(starts: readonly Bound[], holds: (bound: Bound) => boolean): number {
  let found = -1
  starts.forEach((bound, i) => {
    if (holds(bound)) found = i
  })
  return found
}

// Window starts: S0 at seq 0, then snapshots; three of them share ts 200.
const starts: Bound[] = [
  { seq: 0, ts: 100 },
  { seq: 5, ts: 200 },
  { seq: 9, ts: 200 },
  { seq: 12, ts: 200 },
  { seq: 20, ts: 300 },
]

test.each([
  { name: 'before the first bound: no window', at: 99, index: -1 },
  { name: 'long before the first bound', at: -1e15, index: -1 },
  { name: 'equal to the first bound', at: 100, index: 0 },
  { name: 'inside the first window', at: 150, index: 0 },
  { name: 'just before a boundary', at: 199, index: 0 },
  { name: 'on a ts shared by several bounds: the last wins', at: 200, index: 3 },
  { name: 'after a shared ts', at: 201, index: 3 },
  { name: 'just before the last bound', at: 299, index: 3 },
  { name: 'equal to the last bound', at: 300, index: 4 },
  { name: 'after the last bound: the open window', at: 1e13, index: 4 },
])('windowIndexAt: $name', ({ at, index }) => {
  expect(windowIndexAt(starts, at)).toBe(index)
})

test.each([
  { name: 'no bound at or before -1', seq: -1, index: -1 },
  { name: 'seq 0 is S0', seq: 0, index: 0 },
  { name: 'inside the first window', seq: 4, index: 0 },
  { name: 'a boundary seq opens the next window', seq: 5, index: 1 },
  { name: 'the seq before a boundary', seq: 8, index: 1 },
  { name: 'each boundary among those sharing a ts', seq: 9, index: 2 },
  { name: 'the third boundary sharing the ts', seq: 12, index: 3 },
  { name: 'the last boundary', seq: 20, index: 4 },
  { name: 'past the last boundary: the open window', seq: 1000, index: 4 },
])('windowIndexForSeq: $name', ({ seq, index }) => {
  expect(windowIndexForSeq(starts, seq)).toBe(index)
})

test('no bounds: no window for any point', () => {
  expect(windowIndexAt([], 0)).toBe(-1)
  expect(windowIndexForSeq([], 0)).toBe(-1)
})

test('one bound: -1 before it, 0 from it on', () => {
  const one: Bound[] = [{ seq: 0, ts: 50 }]
  expect(windowIndexAt(one, 49)).toBe(-1)
  expect(windowIndexAt(one, 50)).toBe(0)
  expect(windowIndexAt(one, 51)).toBe(0)
  expect(windowIndexForSeq(one, 0)).toBe(0)
  expect(windowIndexForSeq(one, 7)).toBe(0)
})

/** Bounds in log order: seq strictly increasing from 0, ts non-decreasing with many ties. */
const boundsArb = fc
  .record({
    t0: fc.integer({ min: 0, max: 1_000_000 }),
    steps: fc.array(fc.record({ dseq: fc.integer({ min: 1, max: 5 }), dts: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 5 })) }), {
      maxLength: 40,
    }),
  })
  .map(({ t0, steps }) => {
    const bounds: Bound[] = [{ seq: 0, ts: t0 }]
    for (const { dseq, dts } of steps) {
      const last = bounds.at(-1) as Bound
      bounds.push({ seq: last.seq + dseq, ts: last.ts + dts })
    }
    return bounds
  })

test('property: windowIndexAt is the last bound with ts ≤ T', () => {
  fc.assert(
    fc.property(boundsArb, fc.integer({ min: -3, max: 250 }), (bounds, offset) => {
      const first = (bounds[0] as Bound).ts
      const t = first + offset
      expect(windowIndexAt(bounds, t)).toBe(naiveLast(bounds, (bound) => bound.ts <= t))
      // And on every bound's own ts, and just around it.
      for (const { ts } of bounds) {
        for (const probe of [ts - 1, ts, ts + 1]) {
          expect(windowIndexAt(bounds, probe)).toBe(naiveLast(bounds, (bound) => bound.ts <= probe))
        }
      }
    }),
  )
})

test('property: windowIndexForSeq is the last bound with seq ≤ n', () => {
  fc.assert(
    fc.property(boundsArb, (bounds) => {
      const lastSeq = (bounds.at(-1) as Bound).seq
      for (let n = -1; n <= lastSeq + 2; n++) {
        expect(windowIndexForSeq(bounds, n)).toBe(naiveLast(bounds, (bound) => bound.seq <= n))
      }
    }),
  )
})
