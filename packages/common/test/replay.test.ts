/**
 * "Snapshot + replay equals full replay": over generated logs of valid set / merge / patch
 * mutations, replaying from any intermediate state gives the same answer as replaying from `S0`,
 * and the state at a time T is the replay of exactly the entries with `ts ≤ T`.
 */
import { isDeepStrictEqual } from 'node:util'
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { apply, diff, entriesUpToSeq, entriesUpToTs, replay } from '../src/index.ts'
import type { Entry, Json, Mutation } from '../src/index.ts'
import { deepFreeze, smallJson, wire } from './support.ts'

type Obj = { [key: string]: Json }
const isObj = (value: Json | undefined): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** Whether merging `value` onto a missing member yields `value` itself (no `null` object member). */
function mergeable(value: Json): boolean {
  if (!isObj(value)) return true
  return Object.values(value).every((child) => child !== null && mergeable(child))
}

/**
 * A merge patch turning `a` into `b`, written independently of the code under test; `undefined`
 * when RFC 7386 cannot express the change (an object member that must become `null`).
 */
function mergePatchBetween(a: Json, b: Json): Json | undefined {
  if (!isObj(b)) return b
  if (!isObj(a)) return mergeable(b) ? b : undefined
  const members: [string, Json][] = []
  for (const key of Object.keys(a)) if (!Object.hasOwn(b, key)) members.push([key, null])
  for (const key of Object.keys(b)) {
    const want = b[key] as Json
    const have = Object.hasOwn(a, key) ? (a[key] as Json) : undefined
    if (have !== undefined && isDeepStrictEqual(have, want)) continue
    if (want === null) return undefined
    const sub = have !== undefined && isObj(have) ? mergePatchBetween(have, want) : mergeable(want) ? want : undefined
    if (sub === undefined) return undefined
    members.push([key, sub])
  }
  // fromEntries defines own data properties, so a "__proto__" key stays a key.
  return Object.fromEntries(members) as Json
}

type Kind = 'set' | 'merge' | 'patch'

const logArb = fc.record({
  s0: smallJson,
  t0: fc.integer({ min: 0, max: 2_000_000_000_000 }),
  steps: fc.array(
    fc.record({
      target: smallJson,
      kind: fc.constantFrom<Kind>('set', 'merge', 'patch'),
      // Many entries share a millisecond.
      dt: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 50 })),
    }),
    { maxLength: 25 },
  ),
})

type LogInput = typeof logArb extends fc.Arbitrary<infer T> ? T : never

interface Log {
  start: { seq: number; ts: number; state: Json }
  entries: Entry[]
  targets: Json[]
}

/** Turns successive target states into a log whose every entry moves the state to the next target. */
function buildLog({ s0, t0, steps }: LogInput): Log {
  const start = { seq: 0, ts: t0, state: deepFreeze(s0) }
  const entries: Entry[] = []
  const targets: Json[] = []
  let state = s0
  let ts = t0
  steps.forEach(({ target, kind, dt }, i) => {
    let m: Mutation
    if (kind === 'patch') m = { patch: diff(state, target) }
    else if (kind === 'merge') {
      const merge = mergePatchBetween(state, target)
      m = merge === undefined ? { set: target } : { merge }
    } else m = { set: target }
    // The log is valid by construction: each entry really leads to its target.
    expect(wire(apply(state, m))).toEqual(wire(target))
    ts += dt
    entries.push(deepFreeze({ seq: i + 1, ts, m }))
    targets.push(target)
    state = target
  })
  return { start, entries, targets }
}

test('property: a replay from any snapshot equals the full replay', () => {
  fc.assert(
    fc.property(logArb, (input) => {
      const { start, entries, targets } = buildLog(input)
      const full = replay(start, entries)
      const last = entries.at(-1)
      expect(full.seq).toBe(last?.seq ?? 0)
      expect(full.ts).toBe(last?.ts ?? start.ts)
      // (`targets.at(-1) ?? …` would be wrong: a target may be null.)
      expect(wire(full.state)).toEqual(wire(targets.length > 0 ? (targets[targets.length - 1] as Json) : start.state))

      for (let k = 0; k <= entries.length; k++) {
        const snapshot = replay(start, entries, k)
        expect(snapshot.seq).toBe(k)
        expect(wire(snapshot.state)).toEqual(wire(k === 0 ? start.state : (targets[k - 1] as Json)))
        const resumed = replay(snapshot, entries.slice(k))
        expect(resumed.seq).toBe(full.seq)
        expect(resumed.ts).toBe(full.ts)
        expect(wire(resumed.state)).toEqual(wire(full.state))
      }
    }),
    { numRuns: 300 },
  )
})

test('property: the state at T replays exactly the entries with ts ≤ T', () => {
  fc.assert(
    fc.property(logArb, (input) => {
      const { start, entries } = buildLog(input)
      const times = new Set<number>([start.ts - 1])
      for (const { ts } of entries) for (const t of [ts - 1, ts, ts + 1]) times.add(t)
      for (const t of times) {
        const naive = entries.filter((entry) => entry.ts <= t)
        const count = entriesUpToTs(entries, t)
        expect(count).toBe(naive.length)
        const fast = replay(start, entries, count)
        const slow = replay(start, naive)
        expect(fast.seq).toBe(slow.seq)
        expect(fast.ts).toBe(slow.ts)
        expect(wire(fast.state)).toEqual(wire(slow.state))
      }
      for (let seq = -1; seq <= entries.length + 1; seq++) {
        expect(entriesUpToSeq(entries, seq)).toBe(entries.filter((entry) => entry.seq <= seq).length)
      }
    }),
    { numRuns: 300 },
  )
})

test('replay applies the first count entries and reports the bound of the last one', () => {
  const start = { seq: 4, ts: 100, state: { a: 1 } as Json }
  expect(replay(start, [])).toEqual(start)
  const entries: Entry[] = [
    { seq: 5, ts: 100, m: { merge: { b: 2 } } },
    { seq: 6, ts: 105, m: { patch: [{ op: 'remove', path: '/a' }] } },
  ]
  expect(replay(start, entries, 0)).toEqual(start)
  expect(replay(start, entries, 1)).toEqual({ seq: 5, ts: 100, state: { a: 1, b: 2 } })
  expect(replay(start, entries)).toEqual({ seq: 6, ts: 105, state: { b: 2 } })
})
