/**
 * Properties of the mutation core over generated JSON: diff/apply round trips, diff of equal
 * values, immutability of the input, and idempotence of merge patches.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { apply, diff, jsonEqual, mergePatch } from '../src/index.ts'
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
