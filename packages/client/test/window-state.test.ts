import { expect, test } from 'vitest'
import type { Entry } from '@statestream/common'
import { WindowConflict, coversSeq, coversTs, transition } from '../src/window-state.ts'
import type { WindowModel } from '../src/window-state.ts'

const start = { seq: 10, ts: 100, state: { n: 0 } }
const entry = (seq: number, ts: number): Entry => ({ seq, ts, m: { merge: { n: seq } } })
const e11 = entry(11, 100)
const e12 = entry(12, 105)

const pending: WindowModel = { state: 'pending', point: { at: 101 } }
const pullingOpen: WindowModel = { state: 'pulling', start, entries: [e11], end: null }
const live: WindowModel = { state: 'live', start, entries: [e11], end: null }
const committed: WindowModel = { state: 'committed', start, entries: [e11, e12], end: { seq: 12, ts: 105 } }

test.each([
  ['pending + full closed window → committed', pending, { type: 'received', content: { start, entries: [e11, e12], end: { seq: 12, ts: 105 } } }, 'committed'],
  ['pending + open window → pulling', pending, { type: 'received', content: { start, entries: [e11], end: null } }, 'pulling'],
  ['pending + failed → removed', pending, { type: 'failed' }, undefined],
  ['pulling + failed → keeps its prefix', pullingOpen, { type: 'failed' }, 'pulling'],
  ['pulling + rest with end → committed', pullingOpen, { type: 'received', content: { start, entries: [e12], end: { seq: 12, ts: 105 } } }, 'committed'],
  ['pulling (open) + tailed → live', pullingOpen, { type: 'tailed' }, 'live'],
  ['live + entry → live', live, { type: 'entry', entry: e12 }, 'live'],
  ['live + bound → committed', live, { type: 'bound', bound: { seq: 11, ts: 100 } }, 'committed'],
  ['live + untailed → pulling', live, { type: 'untailed' }, 'pulling'],
  ['committed + received → unchanged', committed, { type: 'received', content: { start, entries: [], end: { seq: 12, ts: 105 } } }, 'committed'],
] as const)('%s', (_name, model, event, expected) => {
  expect(transition(model as WindowModel, event)?.state).toBe(expected)
})

test('a repeated entry is ignored and a gap is a conflict', () => {
  expect(transition(live, { type: 'entry', entry: e11 })).toBe(live)
  expect(() => transition(live, { type: 'entry', entry: entry(13, 110) })).toThrow(WindowConflict)
  expect(() => transition(committed, { type: 'entry', entry: entry(13, 110) })).toThrow(WindowConflict)
})

test('a bound that is not the last held entry is a conflict', () => {
  expect(() => transition(live, { type: 'bound', bound: { seq: 12, ts: 105 } })).toThrow(WindowConflict)
})

test('coverage by time follows the time semantics of §1', () => {
  // committed: [start.ts, end.ts), since entries after it may share end.ts
  expect([99, 100, 104, 105].map((ts) => coversTs(committed, ts))).toEqual([false, true, true, false])
  // pulling: up to (not including) the last held ts; later entries may have that ts
  expect([100, 101].map((ts) => coversTs({ ...pullingOpen, entries: [e11, e12] }, ts))).toEqual([true, true])
  expect(coversTs({ ...pullingOpen, entries: [e11, e12] }, 105)).toBe(false)
  // live: everything from its start, as of now
  expect([99, 100, 10_000].map((ts) => coversTs(live, ts))).toEqual([false, true, true])
})

test('coverage by seq: start ≤ seq < end, and only held entries', () => {
  expect([9, 10, 11, 12].map((seq) => coversSeq(committed, seq))).toEqual([false, true, true, false])
  expect([10, 11, 12].map((seq) => coversSeq(pullingOpen, seq))).toEqual([true, true, false])
})
