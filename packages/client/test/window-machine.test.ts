/**
 * The window state machine, cell by cell: every status × event of `TRANSITIONS` is either a rule,
 * which this table runs with a representative event and checks, or explicitly impossible, which
 * throws. A cell added to the table without a row here fails the first test.
 */
import { expect, test } from 'vitest'
import type { Entry } from '@statestream/common'
import { coversSeq, coversTs } from '../src/core/cover.ts'
import { ImpossibleTransition, TRANSITIONS, WindowConflict, transition } from '../src/core/window-machine.ts'
import type { WindowEvent, WindowEventType, WindowModel, WindowStatus } from '../src/core/window-machine.ts'

const start = { seq: 10, ts: 100, state: { n: 0 } }
const entry = (seq: number, ts: number): Entry => ({ seq, ts, m: { merge: { n: seq } } })
const e11 = entry(11, 100)
const e12 = entry(12, 105)
const end = { seq: 12, ts: 105 }

const models: Record<WindowStatus, WindowModel> = {
  pending: { status: 'pending', point: { at: 101 } },
  pulling: { status: 'pulling', start, entries: [e11], end: null },
  committed: { status: 'committed', start, entries: [e11, e12], end },
  live: { status: 'live', start, entries: [e11], end: null },
}

const events: Record<WindowEventType, WindowEvent> = {
  received: { type: 'received', content: { start, entries: [e11, e12], end } },
  failed: { type: 'failed' },
  tailed: { type: 'tailed' },
  untailed: { type: 'untailed' },
  entry: { type: 'entry', entry: e12 },
  bound: { type: 'bound', bound: { seq: 11, ts: 100 } },
  evicted: { type: 'evicted' },
}

/** What each cell does with the model and event above: the status after it, `removed`, or `impossible`. */
const expected: Record<WindowStatus, Record<WindowEventType, WindowStatus | 'removed' | 'impossible'>> = {
  pending: { received: 'committed', failed: 'removed', tailed: 'impossible', untailed: 'impossible', entry: 'impossible', bound: 'impossible', evicted: 'impossible' },
  pulling: { received: 'committed', failed: 'pulling', tailed: 'live', untailed: 'impossible', entry: 'pulling', bound: 'committed', evicted: 'removed' },
  committed: { received: 'committed', failed: 'committed', tailed: 'impossible', untailed: 'impossible', entry: 'committed', bound: 'committed', evicted: 'removed' },
  live: { received: 'committed', failed: 'live', tailed: 'live', untailed: 'pulling', entry: 'live', bound: 'committed', evicted: 'impossible' },
}

test('every status × event cell is a rule or explicitly impossible, and this table covers each', () => {
  const cells = Object.entries(TRANSITIONS).flatMap(([status, row]) => Object.keys(row).map((event) => `${status}.${event}`))
  const covered = Object.entries(expected).flatMap(([status, row]) => Object.keys(row).map((event) => `${status}.${event}`))
  expect(cells.sort()).toEqual(covered.sort())
  expect(cells).toHaveLength(4 * 7)
  for (const [status, row] of Object.entries(TRANSITIONS)) {
    for (const [event, cell] of Object.entries(row)) {
      const impossible = typeof cell !== 'function'
      expect({ cell: `${status}.${event}`, impossible }).toEqual({ cell: `${status}.${event}`, impossible: expected[status as WindowStatus][event as WindowEventType] === 'impossible' })
    }
  }
})

test.for(
  Object.entries(expected).flatMap(([status, row]) => Object.entries(row).map(([event, outcome]) => [status, event, outcome] as const)),
)('%s × %s → %s', ([status, event, outcome]) => {
  const model = models[status as WindowStatus]
  // A committed window's bound is its own end (another bound is a conflict, below).
  const given = status === 'committed' && event === 'bound' ? { type: 'bound' as const, bound: end } : events[event as WindowEventType]
  const run = (): WindowModel | undefined => transition(model, given)
  if (outcome === 'impossible') {
    expect(run).toThrow(ImpossibleTransition)
    return
  }
  const result = run()
  expect(result === undefined ? 'removed' : result.status).toBe(outcome)
})

test('a pending window with an open answer is pulling; one cut short is pulling with its end not known', () => {
  const pending = models.pending
  expect(transition(pending, { type: 'received', content: { start, entries: [e11], end: null } })).toMatchObject({ status: 'pulling', end: null })
  expect(transition(pending, { type: 'received', content: { start, entries: [e11], end: undefined } })).toMatchObject({ status: 'pulling', end: undefined })
})

test('the rest of a window cut short commits it; a known end is kept over an unknown one', () => {
  const cut: WindowModel = { status: 'pulling', start, entries: [e11], end: undefined }
  expect(transition(cut, { type: 'received', content: { start, entries: [e12], end } })).toMatchObject({ status: 'committed', end })
  const known: WindowModel = { status: 'pulling', start, entries: [e11], end }
  expect(transition(known, { type: 'received', content: { start, entries: [], end: undefined } })).toMatchObject({ status: 'pulling', end })
})

test('only the open window can be tailed', () => {
  const closed: WindowModel = { status: 'pulling', start, entries: [e11], end }
  expect(() => transition(closed, { type: 'tailed' })).toThrow(ImpossibleTransition)
  expect(() => transition({ ...closed, end: undefined }, { type: 'tailed' })).toThrow(ImpossibleTransition)
})

test('a repeated entry is ignored; a gap, or an entry past the end, is a conflict', () => {
  const live = models.live
  expect(transition(live, { type: 'entry', entry: e11 })).toEqual(live)
  expect(() => transition(live, { type: 'entry', entry: entry(13, 110) })).toThrow(WindowConflict)
  expect(() => transition(models.committed, { type: 'entry', entry: entry(13, 110) })).toThrow(WindowConflict)
  expect(transition(models.committed, { type: 'entry', entry: e12 })).toBe(models.committed)
})

test('a bound that is not the last held entry is a conflict; a committed window takes its own bound again', () => {
  expect(() => transition(models.live, { type: 'bound', bound: end })).toThrow(WindowConflict)
  expect(() => transition(models.committed, { type: 'bound', bound: { seq: 11, ts: 100 } })).toThrow(WindowConflict)
  expect(transition(models.committed, { type: 'bound', bound: end })).toBe(models.committed)
})

test('a merge of another window, or of entries that do not follow, is a conflict', () => {
  expect(() => transition(models.pulling, { type: 'received', content: { start: { ...start, seq: 11 }, entries: [], end: null } })).toThrow(WindowConflict)
  expect(() => transition(models.pulling, { type: 'received', content: { start, entries: [entry(13, 110)], end: null } })).toThrow(WindowConflict)
})

test('coverage by time follows the time semantics of §1', () => {
  const committed = models.committed
  const pulling: WindowModel = { status: 'pulling', start, entries: [e11, e12], end: null }
  // committed: [start.ts, end.ts), since entries after it may share end.ts
  expect([99, 100, 104, 105].map((ts) => coversTs(committed, ts))).toEqual([false, true, true, false])
  // pulling: up to (not including) the last held ts; later entries may have that ts
  expect([100, 101, 105].map((ts) => coversTs(pulling, ts))).toEqual([true, true, false])
  // live: everything from its start, as of now
  expect([99, 100, 10_000].map((ts) => coversTs(models.live, ts))).toEqual([false, true, true])
})

test('coverage by seq: start ≤ seq < end, and only held entries', () => {
  expect([9, 10, 11, 12].map((seq) => coversSeq(models.committed, seq))).toEqual([false, true, true, false])
  expect([10, 11, 12].map((seq) => coversSeq(models.pulling, seq))).toEqual([true, true, false])
})
