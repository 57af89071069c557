/**
 * Snapshot + replay equals replaying the whole log, for any log: random mutations appended in
 * random batches (some rejected), at random times, under a random small snapshot policy. Every
 * answer of `/v1/state` and `/v1/window` is checked against a naive full replay of the log as
 * read back, and again after the server is restarted on the same SQLite file.
 */
import { join } from 'node:path'
import { apply, mutationOf } from '@statestream/common'
import type { Json, Message, Mutation } from '@statestream/common'
import fc from 'fast-check'
import type { FastifyInstance } from 'fastify'
import { expect } from 'vitest'
import { buildApp } from '../src/app.ts'
import type { StateAnswer, WindowAnswer } from './support.ts'
import { Clock, createState, getJson, post, test } from './support.ts'

const T0 = 1_000_000
const key = fc.constantFrom('a', 'b', 'c', 'd')
const leaf = fc.oneof(fc.integer({ min: -3, max: 3 }), fc.constant(null), fc.constantFrom('x', 'ü'), fc.record({ n: fc.integer({ min: 0, max: 9 }) }))
const pointer = key.map((k) => `/${k}`)

/** Mutations of every kind; patches may fail against the state they meet (and so be rejected). */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  { weight: 4, arbitrary: fc.dictionary(key, leaf, { maxKeys: 3 }).map((merge) => ({ merge })) },
  { weight: 1, arbitrary: fc.dictionary(key, leaf, { maxKeys: 3 }).map((set) => ({ set })) },
  {
    weight: 3,
    arbitrary: fc
      .array(
        fc.oneof(
          fc.record({ op: fc.constant('add' as const), path: pointer, value: leaf }),
          fc.record({ op: fc.constant('replace' as const), path: pointer, value: leaf }),
          fc.record({ op: fc.constant('remove' as const), path: pointer }),
          fc.record({ op: fc.constant('test' as const), path: pointer, value: leaf }),
        ),
        { minLength: 1, maxLength: 3 },
      )
      .map((patch) => ({ patch })),
  },
)

/** One request: how far the clock moves first (often not at all), and its messages. */
const batch = fc.record({
  advance: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 40 })),
  messages: fc.array(
    fc.record({ m: mutation, writerTs: fc.option(fc.integer({ min: -5, max: 30 }), { freq: 5 }) }),
    { minLength: 1, maxLength: 4 },
  ),
})

const scenario = fc.record({
  policy: fc.record({
    entries: fc.integer({ min: 1, max: 6 }),
    bytes: fc.integer({ min: 16, max: 300 }),
    ms: fc.integer({ min: 1, max: 60 }),
  }),
  batches: fc.array(batch, { minLength: 1, maxLength: 12 }),
  extraTimes: fc.array(fc.integer({ min: T0 - 10, max: T0 + 600 }), { maxLength: 5 }),
})

interface Logged {
  seq: number
  ts: number
  m: Mutation
}

/** Every question asked, with its naive answer. */
function questions(log: Logged[], extraTimes: number[]): Array<{ url: string; expected: StateAnswer; at?: number }> {
  const states: Json[] = [{}]
  for (const entry of log) states.push(apply(states[states.length - 1] as Json, entry.m))
  const answer = (k: number): StateAnswer => ({ seq: k, ts: k === 0 ? T0 : (log[k - 1] as Logged).ts, state: states[k] as Json })
  const times = new Set<number>([T0 - 1, T0, T0 + 1, ...extraTimes])
  for (const entry of log) for (const t of [entry.ts - 1, entry.ts, entry.ts + 1]) times.add(t)
  const asked: Array<{ url: string; expected: StateAnswer; at?: number }> = []
  for (const at of times) {
    const k = log.filter((entry) => entry.ts <= at).length
    asked.push({ url: `at=${at}`, at, expected: at < T0 ? { seq: null, ts: null, state: null } : answer(k) })
  }
  for (let k = 0; k <= log.length; k++) asked.push({ url: `seq=${k}`, expected: answer(k) })
  return asked
}

/** Asks every question of `app`; returns the raw answers so a restarted server can be compared. */
async function check(app: FastifyInstance, log: Logged[], extraTimes: number[]): Promise<string[]> {
  const raw: string[] = []
  for (const { url, expected, at } of questions(log, extraTimes)) {
    const state = await app.inject({ url: `/v1/state/p?${url}` })
    expect(state.statusCode, state.body).toBe(200)
    expect(state.json(), url).toEqual(expected)
    raw.push(state.body)
    if (at === undefined) continue
    // The window for T, replayed up to T, reaches the same state; its bounds bracket T.
    const window = await getJson<WindowAnswer>(app, `/v1/window/p?${url}`)
    raw.push(JSON.stringify(window))
    if (window.start === null) {
      expect(expected.seq).toBeNull()
      continue
    }
    expect(window.start.ts).toBeLessThanOrEqual(at)
    if (window.end !== null) expect(window.end.ts).toBeGreaterThan(at)
    let { seq, ts, state: s } = window.start
    for (const e of window.entries) {
      if (e.ts > at) break
      s = apply(s, e.m)
      seq = e.seq
      ts = e.ts
    }
    expect({ seq, ts, state: s }, `window ${url}`).toEqual(expected)
  }
  return raw
}

// 60 scenarios, each two servers on a file: minutes on a busy machine.
test('snapshot + replay equals a full replay, before and after a restart on the same file', { timeout: 300_000 }, async ({ tmp }) => {
  let run = 0
  await fc.assert(
    fc.asyncProperty(scenario, async ({ policy, batches, extraTimes }) => {
      const file = join(tmp, `replay-${run++}.db`)
      const clock = new Clock(T0)
      let app = await buildApp({ file, now: clock.now })
      try {
        await createState(app, 'p', policy)
        const accepted: Mutation[] = []
        for (const { advance, messages } of batches) {
          clock.t += advance
          const body = messages.map(({ m, writerTs }) => (writerTs === null ? m : { ...m, ts: clock.t + writerTs })) as Json
          const res = await post(app, 'p', body)
          expect([204, 400, 409], res.body).toContain(res.statusCode)
          if (res.statusCode === 204) accepted.push(...messages.map(({ m }) => m))
        }

        // The log as read back: exactly the accepted mutations, with the ts the server gave them.
        const messages = await getJson<Message[]>(app, '/v1/stream/p?offset=-1')
        expect(messages.map(mutationOf)).toEqual(accepted)
        const log: Logged[] = messages.map((message, i) => ({ seq: i + 1, ts: message.ts as number, m: mutationOf(message) }))
        for (let i = 1; i < log.length; i++) expect(log[i]?.ts).toBeGreaterThanOrEqual(log[i - 1]?.ts as number)

        const before = await check(app, log, extraTimes)
        await app.close()
        app = await buildApp({ file, now: clock.now })
        const after = await check(app, log, extraTimes)
        expect(after).toEqual(before)

        // The restarted server rebuilds the head state from its last snapshot and appends on it.
        const headBefore = await getJson<StateAnswer>(app, '/v1/state/p')
        const res = await post(app, 'p', { merge: { restarted: true } })
        expect(res.statusCode, res.body).toBe(204)
        expect(await getJson<StateAnswer>(app, '/v1/state/p')).toMatchObject({
          seq: log.length + 1,
          state: apply(headBefore.state, { merge: { restarted: true } }),
        })
      } finally {
        await app.close()
      }
    }),
    { numRuns: 60 },
  )
})
