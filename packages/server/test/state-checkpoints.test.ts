/**
 * The state at a time or seq comes from checkpoints kept inside closed windows once a window has
 * been replayed (`window-checkpoints.ts`). Whatever is held, every answer must be the one a
 * replay of the whole log from the start gives: asked twice (the second from the checkpoints),
 * in forks (whose windows after the fork point read other rows than their source's of the same
 * start), and after a stream was deleted and made again under its name. What is held counts
 * what its states really take, and stays within its budget.
 */
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { expect } from 'vitest'
import type { Clock } from './support.ts'
import { StreamStore } from '../src/stream-store.ts'
import type { StreamStoreOptions } from '../src/stream-store.ts'
import { createState, offset, post, stateAt, test } from './support.ts'

const T0 = 1_000_000
/** Entries per window: several checkpoints apart (every 64 entries), and a partial last stretch. */
const WINDOW = 150

/** A deterministic PRNG (mulberry32). */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Mutation `n` of a stream seeded `seed`: merges (nested too), patches that add and remove, now and then a set. */
function mutation(n: number, rand: () => number, seed: number): Mutation {
  const key = `k${Math.floor(rand() * 12)}`
  const pick = rand()
  if (pick < 0.03) return { set: { reset: n, seed } }
  if (pick < 0.5) return { merge: { [key]: { n, seed, deep: { v: rand() < 0.5 ? n : null } } } }
  if (pick < 0.75) return { merge: { [key]: null, last: n } }
  return { patch: [{ op: 'add', path: `/p${n % 7}`, value: [n, seed] }] }
}

interface Step {
  seq: number
  ts: number
  state: Json
}

/**
 * Appends `count` entries to `name` (created with `WINDOW`-entry windows unless `create` is
 * false), some sharing a millisecond, and returns every state from `start`, seq by seq.
 */
async function grow(app: FastifyInstance, clock: Clock, name: string, count: number, seed: number, start: Step, create = true): Promise<Step[]> {
  if (create) {
    clock.set(start.ts)
    await createState(app, name, { entries: WINDOW })
  }
  const rand = random(seed)
  const steps: Step[] = [start]
  let { seq, ts, state } = start
  for (let i = 0; i < count; ) {
    // 1 to 5 entries in one request, all at one ms.
    const batch = Array.from({ length: Math.min(count - i, 1 + Math.floor(rand() * 5)) }, (_, k) => mutation(seq + k + 1, rand, seed))
    ts += 1 + Math.floor(rand() * 3)
    clock.set(ts)
    const res = await post(app, name, batch)
    expect(res.statusCode, res.body).toBeLessThan(300)
    for (const m of batch) {
      state = apply(state, m)
      seq++
      steps.push({ seq, ts, state })
    }
    i += batch.length
  }
  return steps
}

/** The state at `at` by the steps: after the last one with `ts ≤ at`. */
function expectedAt(steps: Step[], at: number): Step | undefined {
  let found: Step | undefined
  for (const step of steps) if (step.ts <= at) found = step
  return found
}

/**
 * Asks every seq once, in an order that visits windows out of turn (the first query in a window
 * keeps its checkpoints, the others use them), then a sample of seqs again and a spread of times.
 */
async function checkAll(app: FastifyInstance, name: string, steps: Step[], seed: number): Promise<void> {
  const rand = random(seed)
  const bySeq = new Map(steps.map((step) => [step.seq, step]))
  const seqs = steps.map((step) => step.seq).sort(() => rand() - 0.5)
  for (const seq of [...seqs, ...seqs.slice(0, 40)]) {
    const want = bySeq.get(seq) as Step
    expect(await stateAt(app, name, `seq=${seq}`), `seq ${seq}`).toEqual({ seq, ts: want.ts, state: want.state })
  }
  const first = steps[0] as Step
  const last = steps[steps.length - 1] as Step
  for (let k = 0; k < 80; k++) {
    const at = first.ts - 2 + Math.floor(rand() * (last.ts - first.ts + 6))
    const want = expectedAt(steps, at)
    const expected = want === undefined ? { seq: null, ts: null, state: null } : { seq: want.seq, ts: want.ts, state: want.state }
    expect(await stateAt(app, name, `at=${at}`), `at ${at}`).toEqual(expected)
  }
}

/** Room for a few thousand requests on a busy machine (and on PostgreSQL). */
const SLOW = { timeout: 240_000 }

test('every state at a seq or a time is the replay of the whole log, asked once or again', SLOW, async ({ app, clock }) => {
  const steps = await grow(app, clock, 's', 420, 1, { seq: 0, ts: T0, state: {} })
  await checkAll(app, 's', steps, 2)
})

test('a fork inside a window answers its own entries, its source its own, whichever was asked first', SLOW, async ({ app, clock }) => {
  const source = await grow(app, clock, 'src', 400, 3, { seq: 0, ts: T0, state: {} })
  // The source's windows are replayed (and checkpointed) before the fork exists.
  await checkAll(app, 'src', source, 4)
  // Fork after entry 220: inside the window 150…300, past its first checkpoint.
  const at = source[220] as Step
  const res = await app.inject({
    method: 'PUT',
    url: '/v1/stream/f',
    headers: { 'stream-forked-from': '/v1/stream/src', 'stream-fork-offset': offset(220) },
  })
  expect(res.statusCode, res.body).toBe(201)
  const forked = await grow(app, clock, 'f', 200, 5, at, false)
  await checkAll(app, 'f', [...source.slice(0, 220), ...forked], 6)
  await checkAll(app, 'src', source, 7)
})

test('a stream deleted and made again under its name answers its new entries', SLOW, async ({ app, clock }) => {
  const before = await grow(app, clock, 'd', 320, 8, { seq: 0, ts: T0, state: {} })
  await checkAll(app, 'd', before, 9)
  expect((await app.inject({ method: 'DELETE', url: '/v1/stream/d' })).statusCode).toBe(204)
  const after = await grow(app, clock, 'd', 320, 10, { seq: 0, ts: T0, state: {} })
  await checkAll(app, 'd', after, 11)
})

/**
 * A stream whose state grows from `{}` to about 400 KB inside its first window (200 entries of
 * 2 KB each), then a second entry-less stretch closes that window.
 */
async function growing(app: FastifyInstance, clock: Clock, name: string): Promise<Step[]> {
  clock.set(T0)
  await createState(app, name, { entries: 200 })
  const steps: Step[] = [{ seq: 0, ts: T0, state: {} }]
  let state: Json = {}
  for (let seq = 1; seq <= 210; seq++) {
    const m: Mutation = { merge: { [`k${seq}`]: `${seq}:`.padEnd(2048, 'x') } }
    clock.set(T0 + seq)
    const res = await post(app, name, m)
    expect(res.statusCode, res.body).toBeLessThan(300)
    state = apply(state, m)
    steps.push({ seq, ts: T0 + seq, state })
  }
  return steps
}

test('the checkpoints of a window whose state grew count what they hold, within the budget', SLOW, async ({ makeApp, onEngine, clock }) => {
  const open = async (checkpointBytes: number): Promise<{ app: FastifyInstance; store: StreamStore }> => {
    const options: StreamStoreOptions = { now: clock.now, checkpointBytes }
    const store = await StreamStore.open(onEngine(options))
    return { app: await makeApp({ store }), store }
  }
  const ample = await open(64 * 1024 * 1024)
  try {
    const steps = await growing(ample.app, clock, 'g')
    const at = steps[150] as Step
    expect(await stateAt(ample.app, 'g', 'seq=150')).toEqual({ seq: 150, ts: at.ts, state: at.state })
    const held = ample.store.checkpointCache
    expect(held.windows).toBe(1)
    // Its last checkpoint (after entry 192) alone is about 390 KB of text: all of it is counted.
    expect(held.bytes).toBeGreaterThanOrEqual(JSON.stringify((steps[192] as Step).state).length)
    // At most the four states' whole text, and the times of the window's 200 entries (8 bytes each).
    const whole = [0, 64, 128, 192].reduce((sum, seq) => sum + JSON.stringify((steps[seq] as Step).state).length, 0)
    expect(held.bytes).toBeLessThanOrEqual(whole + 200 * 8)
  } finally {
    await ample.app.close()
    await ample.store.close()
  }

  // A budget smaller than that window's states: nothing held past it, every answer still right.
  const budget = 100 * 1024
  const tight = await open(budget)
  try {
    const steps = await growing(tight.app, clock, 'g')
    for (const seq of [150, 10, 199, 200, 64, 205, 130]) {
      const want = steps[seq] as Step
      expect(await stateAt(tight.app, 'g', `seq=${seq}`), `seq ${seq}`).toEqual({ seq, ts: want.ts, state: want.state })
      expect(tight.store.checkpointCache.bytes).toBeLessThanOrEqual(budget)
    }
    expect(tight.store.checkpointCache.windows).toBe(0)
  } finally {
    await tight.app.close()
    await tight.store.close()
  }
})
