/**
 * Properties of the mutation core over generated JSON: diff/apply round trips, diff of equal
 * values, immutability of the input, and idempotence of merge patches.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { apply, applySequence, diff, jsonEqual, mergePatch } from '../src/index.ts'
import type { Json } from '../src/index.ts'
import { anyJson, deepFreeze, wire } from './support.ts'

test('property: applying diff(a, b) to a gives b', () => {
  fc.assert(
    fc.property(anyJson, anyJson, (a, b) => {
      const result = apply(a, { patch: diff(a, b) })
      expect(wire(result)).toEqual(wire(b))
      expect(jsonEqual(result, b)).toBe(true)
    }),
    { numRuns: 500 },
  )
})

test('property: diff of a value with itself, or with a copy of itself, is empty', () => {
  fc.assert(
    fc.property(anyJson, (a) => {
      expect(diff(a, a)).toEqual([])
      expect(diff(a, structuredClone(a))).toEqual([])
    }),
  )
})

test('property: diff of different values is not empty', () => {
  fc.assert(
    fc.property(anyJson, anyJson, (a, b) => {
      fc.pre(!jsonEqual(a, b))
      expect(diff(a, b).length).toBeGreaterThan(0)
    }),
  )
})

test('property: applying a diff never changes its input', () => {
  fc.assert(
    fc.property(anyJson, anyJson, (a, b) => {
      const before = structuredClone(a)
      const frozen = deepFreeze(a)
      apply(frozen, { patch: diff(frozen, b) })
      expect(frozen).toStrictEqual(before)
    }),
  )
})

test('property: a merge patch applied twice is the merge patch applied once', () => {
  fc.assert(
    fc.property(anyJson, anyJson, (a, p) => {
      const once = mergePatch(deepFreeze(a), deepFreeze(p))
      expect(wire(mergePatch(once, p))).toEqual(wire(once))
    }),
    { numRuns: 500 },
  )
})

/** RFC 7386's pseudocode, recursively, on copies: the model `mergePatch` is checked against. */
function referenceMerge(target: Json, patch: Json): Json {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return structuredClone(patch)
  const result: Record<string, Json> = typeof target === 'object' && target !== null && !Array.isArray(target) ? structuredClone(target) : {}
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key]
    else result[key] = referenceMerge(key in result ? (result[key] as Json) : null, value)
  }
  return result
}

/** A leaf of `tree`: nulls (deletes, in a patch) as often as any other value. */
const leaf: fc.Arbitrary<Json> = fc.oneof(fc.constant(null), fc.integer({ min: 0, max: 9 }), fc.constant('s'), fc.constant<Json>([1, { a: 2 }]))

/** Objects on two keys, mostly nested `depth` levels deep: patches meet their targets' members at every depth. */
function tree(depth: number): fc.Arbitrary<Json> {
  if (depth === 0) return leaf
  const member = fc.oneof({ arbitrary: tree(depth - 1), weight: 4 }, { arbitrary: leaf, weight: 1 })
  return fc.dictionary(fc.constantFrom('a', 'b'), member, { minKeys: 1, maxKeys: 2 })
}

const nestedJson = fc.oneof(tree(6), tree(2), leaf)

test('property: a merge patch, alone or in a sequence, gives what RFC 7386 does, and changes no input', () => {
  fc.assert(
    fc.property(nestedJson, fc.array(nestedJson, { minLength: 1, maxLength: 5 }), (target, patches) => {
      const frozenTarget = deepFreeze(structuredClone(target))
      const frozen = patches.map((patch) => deepFreeze(structuredClone(patch)))
      let expected = target
      for (const patch of patches) expected = referenceMerge(expected, patch)
      expect(wire(applySequence(frozenTarget, frozen.map((merge) => ({ merge }))))).toEqual(wire(expected))
      expect(wire(mergePatch(frozenTarget, frozen[0] as Json))).toEqual(wire(referenceMerge(target, patches[0] as Json)))
      expect(wire(frozenTarget)).toEqual(wire(target))
    }),
    { numRuns: 1000 },
  )
})

test('property: jsonEqual agrees with equality of the JSON text of key-sorted values', () => {
  const canonical = (value: unknown): unknown =>
    Array.isArray(value)
      ? value.map(canonical)
      : typeof value === 'object' && value !== null
        ? Object.fromEntries(
            Object.keys(value)
              .sort()
              .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
          )
        : value
  fc.assert(
    fc.property(anyJson, anyJson, (a, b) => {
      const same = JSON.stringify(canonical(a)) === JSON.stringify(canonical(b))
      expect(jsonEqual(a, b)).toBe(same)
      expect(jsonEqual(a, structuredClone(a))).toBe(true)
    }),
  )
})
