/**
 * Model-based test of the window store (electric's `model-based.test.ts` in spirit): any sequence
 * of appends, snapshots, reads by time and by seq, concurrent requests of every kind (points,
 * seqs, listed windows), fetch failures, answers cut halfway (also while other requests wait on
 * them) and live tails starting and stopping gives the same states as a naive replay of the whole
 * log — and no entry is ever sent to the client twice, cut answers included.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import type { Json, Mutation } from '@statestream/common'
import { MemoryBudget } from '../src/core/budget.ts'
import { WindowStore } from '../src/window-store.ts'
import { FakeHistory } from './support/fake-history.ts'

const CREATED = 1_000

type Command =
  | { kind: 'append'; key: string; value: number; dt: number; snapshot: boolean }
  | { kind: 'stateAt'; at: number }
  | { kind: 'windowSeq'; seq: number }
  | { kind: 'concurrent'; ats: number[] }
  | { kind: 'fail'; at: number }
  | { kind: 'cut'; at: number; keep: number }
  | { kind: 'race'; ats: number[]; seqs: number[]; cut: boolean }
  | { kind: 'tail'; on: boolean }

const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('append' as const), key: fc.constantFrom('a', 'b', 'c'), value: fc.integer({ min: 0, max: 9 }), dt: fc.constantFrom(0, 0, 1, 5, 20), snapshot: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('stateAt' as const), at: fc.integer({ min: CREATED - 20, max: CREATED + 400 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('windowSeq' as const), seq: fc.integer({ min: 0, max: 60 }) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('concurrent' as const), ats: fc.array(fc.integer({ min: CREATED - 5, max: CREATED + 400 }), { minLength: 2, maxLength: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fail' as const), at: fc.integer({ min: CREATED, max: CREATED + 400 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('tail' as const), on: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('cut' as const), at: fc.integer({ min: CREATED, max: CREATED + 400 }), keep: fc.constantFrom(0.1, 0.5, 0.9) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('race' as const),
      ats: fc.array(fc.integer({ min: CREATED - 5, max: CREATED + 400 }), { maxLength: 4 }),
      seqs: fc.array(fc.integer({ min: 0, max: 60 }), { maxLength: 3 }),
      cut: fc.boolean(),
    }),
  },
)

function mutation(key: string, value: number): Mutation {
  // Mix the three kinds; each always applies.
  if (value % 3 === 0) return { set: { [key]: value } }
  if (value % 3 === 1) return { merge: { [key]: value } }
  return { patch: [{ op: 'add', path: `/${key}`, value }] }
}

async function run(commands: Command[]): Promise<void> {
  const server = new FakeHistory(CREATED)
  const store = new WindowStore(server, new MemoryBudget())
  const check = async (at: number): Promise<void> => {
    const state = await store.stateAt(at)
    expect(state === undefined ? undefined : (state.state as Json)).toEqual(server.stateAt(at))
  }
  for (const c of commands) {
    switch (c.kind) {
      case 'append':
        server.append(mutation(c.key, c.value), c.dt, c.snapshot)
        break
      case 'stateAt':
        await check(c.at)
        break
      case 'windowSeq': {
        if (c.seq > server.head.seq) break
        const window = await store.window({ seq: c.seq })
        expect(window.start?.seq).toBeLessThanOrEqual(c.seq)
        const answer = await server.fetch({ seq: c.seq }, undefined, () => undefined)
        expect(window.start?.seq).toBe(answer.data.start?.seq)
        expect(window.entries.map((e) => e.seq)).toEqual(expect.arrayContaining(answer.data.entries.map((e) => e.seq)))
        // The model's own fetch counts as a send; take it back out of the tally.
        for (const entry of answer.data.entries) server.served.set(entry.seq, (server.served.get(entry.seq) ?? 1) - 1)
        break
      }
      case 'concurrent':
        await Promise.all(c.ats.map((at) => check(at)))
        break
      case 'fail': {
        server.failNext(1)
        const first = await store.stateAt(c.at).then(
          (state) => ({ ok: true as const, state }),
          (err: unknown) => ({ ok: false as const, err }),
        )
        // Held data may answer without a fetch; a fetch that was made failed and reported it.
        if (!first.ok) expect((first.err as { code?: string }).code).toBe('NETWORK')
        server.failNext(0)
        await check(c.at)
        break
      }
      case 'cut': {
        // The next answer delivers only part of its entries, then fails; what came is kept.
        server.cutNext(1, c.keep)
        await store.stateAt(c.at).then(
          (state) => expect(state === undefined ? undefined : (state.state as Json)).toEqual(server.stateAt(c.at)),
          (err: unknown) => expect((err as { code?: string }).code).toBe('NETWORK'),
        )
        server.cutNext(0)
        await check(c.at)
        break
      }
      case 'race': {
        // Points, seqs and listed windows at once, one answer perhaps cut under them all.
        if (c.cut) server.cutNext(1, 0.5)
        const spans = c.seqs.filter((seq) => seq <= server.head.seq).map((seq) => server.spanOf(seq))
        const outcomes = await Promise.allSettled([
          ...c.ats.map(async (at) => {
            const state = await store.stateAt(at)
            expect(state === undefined ? undefined : (state.state as Json)).toEqual(server.stateAt(at))
          }),
          ...spans.map(async (span) => {
            const window = await store.windowFor(span)
            try {
              expect(window.start?.seq).toBe(span.start.seq)
            } finally {
              store.release(span.start.seq)
            }
          }),
        ])
        for (const outcome of outcomes) {
          if (outcome.status === 'rejected') expect((outcome.reason as { code?: string }).code).toBe('NETWORK')
        }
        server.cutNext(0)
        for (const at of c.ats) await check(at)
        break
      }
      case 'tail':
        if (c.on && !server.tailing) server.startTail(store)
        if (!c.on && server.tailing) server.stopTail()
        break
    }
  }
  // Finally every point of the history, and every seq sent at most once.
  for (let at = CREATED - 2; at <= server.head.ts + 2; at++) await check(at)
  for (const [seq, count] of server.served) expect({ seq, count }).toEqual({ seq, count: Math.min(count, 1) })
}

test('any sequence of requests, appends, faults and tails gives the naive states, fetching each entry once', async () => {
  await fc.assert(fc.asyncProperty(fc.array(command, { maxLength: 60 }), run), { numRuns: 300 })
})

test('a known tricky sequence: reads inside an open window, then a snapshot, then reads again', async () => {
  await run([
    { kind: 'append', key: 'a', value: 1, dt: 5, snapshot: false },
    { kind: 'stateAt', at: CREATED + 10 },
    { kind: 'append', key: 'a', value: 2, dt: 5, snapshot: true },
    { kind: 'append', key: 'b', value: 4, dt: 0, snapshot: false },
    { kind: 'stateAt', at: CREATED + 10 },
    { kind: 'stateAt', at: CREATED + 3 },
    { kind: 'tail', on: true },
    { kind: 'append', key: 'c', value: 5, dt: 1, snapshot: true },
    { kind: 'tail', on: false },
    { kind: 'append', key: 'c', value: 6, dt: 1, snapshot: false },
    { kind: 'stateAt', at: CREATED + 100 },
  ])
})
