/**
 * `applySequence` updates the containers it created in place: it must give exactly what folding
 * `apply` gives, and never change its input or anything the result shares with it.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import { apply, applySequence, diff, isJsonObject, replay } from '../src/index.ts'
import type { Entry, Json, Mutation, PatchOp } from '../src/index.ts'
import { deepFreeze, expectCode, json, smallJson, wire } from './support.ts'

/** One step of a generated log, turned into a mutation against the state it will meet. */
type Step =
  | { kind: 'set'; value: Json }
  | { kind: 'merge'; value: Json }
  | { kind: 'diff'; value: Json }
  | { kind: 'copy' | 'move'; from: number; to: string }
  | { kind: 'nested'; key: string; value: Json }

const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), value: smallJson }),
  fc.record({ kind: fc.constant('merge' as const), value: smallJson }),
  fc.record({ kind: fc.constant('diff' as const), value: smallJson }),
  fc.record({ kind: fc.constantFrom('copy' as const, 'move' as const), from: fc.nat(), to: fc.constantFrom('p', 'q', 'a') }),
  fc.record({ kind: fc.constant('nested' as const), key: fc.constantFrom('a', 'b', 'p', 'q'), value: smallJson }),
)

/** Builds the mutations of `steps` against the states a plain fold of `apply` goes through. */
function mutationsOf(start: Json, steps: Step[]): Mutation[] {
  const mutations: Mutation[] = []
  let state = start
  for (const s of steps) {
    let mutation: Mutation
    if (s.kind === 'set') mutation = { set: s.value }
    else if (s.kind === 'merge') mutation = { merge: s.value }
    else if (s.kind === 'diff') mutation = { patch: diff(state, s.value) }
    else if (s.kind === 'nested') {
      // Reaches into a member created earlier in the sequence: the case in-place updates speed up.
      if (!isJsonObject(state) || !isJsonObject(state[s.key] ?? null)) continue
      mutation = { merge: { [s.key]: { n: s.value } } }
    } else {
      if (!isJsonObject(state)) continue
      const keys = Object.keys(state).filter((key) => /^[a-z]$/.test(key))
      const from = keys[s.from % Math.max(1, keys.length)]
      if (from === undefined || from === s.to) continue
      const op: PatchOp = { op: s.kind, from: `/${from}`, path: `/${s.to}` }
      mutation = { patch: [op] }
    }
    state = apply(state, mutation)
    mutations.push(mutation)
  }
  return mutations
}

describe('applySequence', () => {
  test('property: equals a fold of apply, and never writes to its (frozen) input or mutations', () => {
    fc.assert(
      fc.property(smallJson, fc.array(step, { maxLength: 25 }), (start, steps) => {
        const mutations = mutationsOf(start, steps)
        const folded = mutations.reduce<Json>((state, mutation) => apply(state, mutation), start)
        const before = JSON.stringify(start)
        // Frozen: an in-place write to anything not created by the sequence would throw.
        const result = applySequence(deepFreeze(structuredClone(start)), deepFreeze(structuredClone(mutations)))
        expect(wire(result)).toEqual(wire(folded))
        expect(JSON.stringify(start)).toBe(before)
      }),
      { numRuns: 400 },
    )
  })

  test('a member copied to a second place is not changed through the first afterwards', () => {
    const result = applySequence({}, [
      { merge: { a: { x: 1 } } },
      { patch: [{ op: 'copy', from: '/a', path: '/b' }] },
      { patch: [{ op: 'replace', path: '/a/x', value: 2 }] },
      { merge: { b: { y: 3 } } },
    ])
    expect(result).toEqual({ a: { x: 2 }, b: { x: 1, y: 3 } })
  })

  test('shares every untouched member of its input, and copies a changed container once', () => {
    const start = deepFreeze(json('{"keep":{"deep":[1,2]},"hot":{"n":0}}')) as { keep: Json; hot: Json }
    const mutations: Mutation[] = Array.from({ length: 50 }, (_, n) => ({ merge: { hot: { n: n + 1 } } }))
    const result = applySequence(start, mutations) as { keep: Json; hot: Json }
    expect(result.keep).toBe(start.keep)
    expect(result.hot).toEqual({ n: 50 })
    expect(start.hot).toEqual({ n: 0 })
  })

  test('a failing mutation throws as apply does, and the input stays as it was', () => {
    const start = deepFreeze(json('{"a":1}'))
    expectCode(() => applySequence(start, [{ merge: { b: 2 } }, { patch: [{ op: 'remove', path: '/nope' }] }]), 'MUTATION_FAILED')
    expect(start).toEqual({ a: 1 })
    // Outside a sequence, apply copies again: a result of one sequence is safe to hand to apply.
    const first = applySequence({}, [{ merge: { a: { x: 1 } } }]) as { a: Json }
    const next = apply(first, { merge: { a: { x: 2 } } })
    expect(first.a).toEqual({ x: 1 })
    expect(next).toEqual({ a: { x: 2 } })
  })

  test('replay uses it: the result equals entry-by-entry application and leaves the start alone', () => {
    const start = { seq: 0, ts: 10, state: deepFreeze(json('{"list":[]}')) }
    const entries: Entry[] = Array.from({ length: 20 }, (_, i) => ({
      seq: i + 1,
      ts: 10 + i,
      m: { patch: [{ op: 'add', path: '/list/-', value: i }] },
    }))
    const replayed = replay(start, entries, 15)
    expect(replayed.seq).toBe(15)
    expect(replayed.ts).toBe(24)
    expect(replayed.state).toEqual({ list: Array.from({ length: 15 }, (_, i) => i) })
    expect(start.state).toEqual({ list: [] })
  })
})
