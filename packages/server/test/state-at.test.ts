/**
 * `GET /v1/state`: the state at a time or seq, by the time semantics of §1 — the state after
 * every entry with `ts ≤ T`; nothing (not an error) before creation.
 */
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import type { Clock } from './support.ts'
import { append, createState, expectError, stateAt, test } from './support.ts'

const T0 = 1_000_000

/**
 * A stream created at T0 with a snapshot every 2 entries:
 *   seq 1 @ T0+10 {a:1}, seq 2 @ T0+20 {a:1,b:2} (snapshot), seq 3 @ T0+30 {a:3,b:2},
 *   seq 4 @ T0+40 {a:3} (snapshot), seq 5 @ T0+50 {a:3,c:5}.
 */
async function history(app: FastifyInstance, clock: Clock): Promise<void> {
  clock.set(T0)
  await createState(app, 'h', { entries: 2 })
  const steps = [{ merge: { a: 1 } }, { merge: { b: 2 } }, { merge: { a: 3 } }, { patch: [{ op: 'remove', path: '/b' }] }, { merge: { c: 5 } }]
  for (const [i, message] of steps.entries()) {
    clock.set(T0 + 10 * (i + 1))
    await append(app, 'h', message)
  }
}

describe('state at a time', () => {
  test.for([
    ['before creation', T0 - 1, { seq: null, ts: null, state: null }],
    ['long before creation', 0, { seq: null, ts: null, state: null }],
    ['exactly the creation ts', T0, { seq: 0, ts: T0, state: {} }],
    ['between creation and the first entry', T0 + 9, { seq: 0, ts: T0, state: {} }],
    ['exactly an entry ts', T0 + 10, { seq: 1, ts: T0 + 10, state: { a: 1 } }],
    ['one ms before a snapshot', T0 + 19, { seq: 1, ts: T0 + 10, state: { a: 1 } }],
    ['exactly a snapshot ts', T0 + 20, { seq: 2, ts: T0 + 20, state: { a: 1, b: 2 } }],
    ['just after a snapshot', T0 + 21, { seq: 2, ts: T0 + 20, state: { a: 1, b: 2 } }],
    ['inside the second window', T0 + 30, { seq: 3, ts: T0 + 30, state: { a: 3, b: 2 } }],
    ['exactly the second snapshot ts', T0 + 40, { seq: 4, ts: T0 + 40, state: { a: 3 } }],
    ['exactly the head ts', T0 + 50, { seq: 5, ts: T0 + 50, state: { a: 3, c: 5 } }],
    ['after the head', T0 + 1_000_000, { seq: 5, ts: T0 + 50, state: { a: 3, c: 5 } }],
  ] as const)('%s', async ([, at, expected], { app, clock }) => {
    await history(app, clock)
    expect(await stateAt(app, 'h', `at=${at}`)).toEqual(expected)
  })
})

describe('state at a seq', () => {
  test.for([
    [0, { seq: 0, ts: T0, state: {} }],
    [1, { seq: 1, ts: T0 + 10, state: { a: 1 } }],
    [2, { seq: 2, ts: T0 + 20, state: { a: 1, b: 2 } }],
    [3, { seq: 3, ts: T0 + 30, state: { a: 3, b: 2 } }],
    [4, { seq: 4, ts: T0 + 40, state: { a: 3 } }],
    [5, { seq: 5, ts: T0 + 50, state: { a: 3, c: 5 } }],
  ] as const)('seq=%i', async ([seq, expected], { app, clock }) => {
    await history(app, clock)
    expect(await stateAt(app, 'h', `seq=${seq}`)).toEqual(expected)
  })

  test('a seq beyond the head is a clear 400', async ({ app, clock }) => {
    await history(app, clock)
    expectError(await app.inject({ url: '/v1/state/h?seq=6' }), 'INVALID_PARAMETER')
  })

  test('without a point the answer is the head state', async ({ app, clock }) => {
    await history(app, clock)
    expect(await stateAt(app, 'h', '')).toEqual({ seq: 5, ts: T0 + 50, state: { a: 3, c: 5 } })
    expect(await stateAt(app, 'h', 'at=now')).toEqual({ seq: 5, ts: T0 + 50, state: { a: 3, c: 5 } })
  })
})

test('entries stored with the creating PUT belong to the creation ms', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'p', {}, [{ set: { x: 1 } }, { merge: { y: 2 } }])
  expect(await stateAt(app, 'p', `at=${T0 - 1}`)).toEqual({ seq: null, ts: null, state: null })
  expect(await stateAt(app, 'p', `at=${T0}`)).toEqual({ seq: 2, ts: T0, state: { x: 1, y: 2 } })
  expect(await stateAt(app, 'p', 'seq=0')).toEqual({ seq: 0, ts: T0, state: {} })
})

test('entries sharing one ms on both sides of a snapshot are all in the state at that ms', async ({ app, clock }) => {
  // Snapshots after seq 2 and 4, every entry (and the creation) at the same ms.
  clock.set(T0)
  await createState(app, 'same', { entries: 2 })
  for (let i = 1; i <= 5; i++) await append(app, 'same', { merge: { [`k${i}`]: i } })
  expect(await stateAt(app, 'same', `at=${T0}`)).toEqual({
    seq: 5,
    ts: T0,
    state: { k1: 1, k2: 2, k3: 3, k4: 4, k5: 5 },
  })
  expect(await stateAt(app, 'same', `at=${T0 - 1}`)).toEqual({ seq: null, ts: null, state: null })
  expect(await stateAt(app, 'same', 'seq=3')).toEqual({ seq: 3, ts: T0, state: { k1: 1, k2: 2, k3: 3 } })
})

test('a snapshot taken inside a run of equal ms does not cut the run short', async ({ app, clock }) => {
  // seq 1, 2 (snapshot) and 3 share T0+5; seq 4 (snapshot) is later.
  clock.set(T0)
  await createState(app, 'run', { entries: 2 })
  clock.set(T0 + 5)
  for (let i = 1; i <= 3; i++) await append(app, 'run', { merge: { [`k${i}`]: i } })
  clock.set(T0 + 9)
  await append(app, 'run', { merge: { k4: 4 } })
  expect(await stateAt(app, 'run', `at=${T0 + 5}`)).toEqual({ seq: 3, ts: T0 + 5, state: { k1: 1, k2: 2, k3: 3 } })
  expect(await stateAt(app, 'run', `at=${T0 + 8}`)).toEqual({ seq: 3, ts: T0 + 5, state: { k1: 1, k2: 2, k3: 3 } })
  expect(await stateAt(app, 'run', `at=${T0 + 9}`)).toEqual({
    seq: 4,
    ts: T0 + 9,
    state: { k1: 1, k2: 2, k3: 3, k4: 4 },
  })
})

test('a state stream that was never written has {} from its creation on', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'empty')
  clock.set(T0 + 100)
  expect(await stateAt(app, 'empty', `at=${T0 + 50}`)).toEqual({ seq: 0, ts: T0, state: {} })
  expect(await stateAt(app, 'empty', 'seq=0')).toEqual({ seq: 0, ts: T0, state: {} })
  expect(await stateAt(app, 'empty', `at=${T0 - 1}`)).toEqual({ seq: null, ts: null, state: null })
})

test('a snapshot by age (Stream-Snapshot-Ms) answers like one by count', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'age', { ms: 100 })
  const times = [T0 + 50, T0 + 100, T0 + 150, T0 + 260, T0 + 270]
  for (const [i, t] of times.entries()) {
    clock.set(t)
    await append(app, 'age', { merge: { n: i + 1 } })
  }
  // Snapshots at seq 2 (T0+100, 100 ms after S0) and seq 4 (T0+260).
  const windows = await app.inject({ url: '/v1/windows/age' })
  expect(windows.json<{ windows: Array<{ start: { seq: number } }> }>().windows.map((w) => w.start.seq)).toEqual([0, 2, 4])
  for (const [i, t] of times.entries()) {
    expect(await stateAt(app, 'age', `at=${t}`)).toEqual({ seq: i + 1, ts: t, state: { n: i + 1 } })
    expect(await stateAt(app, 'age', `at=${t - 1}`)).toEqual(
      i === 0 ? { seq: 0, ts: T0, state: {} } : { seq: i, ts: times[i - 1], state: { n: i } },
    )
  }
})

describe('state at a global position', () => {
  test('several streams at one gpos: each after its last entry at or below it, a fork through its source', async ({ app, clock }) => {
    clock.set(T0)
    await createState(app, 'g/a')
    await createState(app, 'g/b')
    // gpos 1: a, 2: b, 3: a, 4: b, 5: a — appends to both streams interleaved.
    for (let i = 1; i <= 5; i++) {
      clock.set(T0 + i)
      await append(app, i % 2 === 1 ? 'g/a' : 'g/b', { merge: { [`n${i}`]: i } })
    }
    const at = async (gpos: number) => [await stateAt(app, 'g/a', `gpos=${gpos}`), await stateAt(app, 'g/b', `gpos=${gpos}`)]
    expect(await at(0)).toEqual([
      { seq: 0, ts: T0, state: {} },
      { seq: 0, ts: T0, state: {} },
    ])
    expect(await at(1)).toEqual([
      { seq: 1, ts: T0 + 1, state: { n1: 1 } },
      { seq: 0, ts: T0, state: {} },
    ])
    expect(await at(4)).toEqual([
      { seq: 2, ts: T0 + 3, state: { n1: 1, n3: 3 } },
      { seq: 2, ts: T0 + 4, state: { n2: 2, n4: 4 } },
    ])
    // Past the server's position: the heads.
    expect(await at(1000)).toEqual([
      { seq: 3, ts: T0 + 5, state: { n1: 1, n3: 3, n5: 5 } },
      { seq: 2, ts: T0 + 4, state: { n2: 2, n4: 4 } },
    ])
    // A fork of g/a after its entry 2 (gpos 3): its inherited entries keep their positions.
    const fork = await app.inject({ method: 'PUT', url: '/v1/stream/g/f', headers: { 'stream-forked-from': '/v1/stream/g/a', 'stream-fork-offset': '0000000000000002' } })
    expect(fork.statusCode).toBe(201)
    clock.set(T0 + 6)
    await append(app, 'g/f', { merge: { own: 6 } })
    expect(await stateAt(app, 'g/f', 'gpos=3')).toEqual({ seq: 2, ts: T0 + 3, state: { n1: 1, n3: 3 } })
    expect(await stateAt(app, 'g/f', 'gpos=5')).toEqual({ seq: 2, ts: T0 + 3, state: { n1: 1, n3: 3 } })
    expect(await stateAt(app, 'g/f', 'gpos=6')).toEqual({ seq: 3, ts: T0 + 6, state: { n1: 1, n3: 3, own: 6 } })
  })

  test('gpos with at or seq, or not a position, is refused', async ({ app, clock }) => {
    clock.set(T0)
    await createState(app, 'g/bad')
    for (const query of ['gpos=1&seq=0', `gpos=1&at=${T0}`, 'gpos=-1', 'gpos=x', 'gpos=1&gpos=2']) {
      const res = await app.inject({ url: `/v1/state/g/bad?${query}` })
      expect(res.statusCode, query).toBe(400)
      expect(res.json<{ error: { code: string } }>().error.code, query).toBe('INVALID_PARAMETER')
    }
  })
})
