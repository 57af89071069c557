/**
 * Shared helpers of the common package's tests: error assertions, deep freezing, JSON-level
 * normalisation and the arbitraries the property tests draw from.
 */
import fc from 'fast-check'
import { expect } from 'vitest'
import { StateStreamError } from '../src/index.ts'
import type { ErrorCode, Json } from '../src/index.ts'

/** The error `fn` throws; fails the test when it returns normally. */
export function thrown(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected a throw, but the call returned normally')
}

/** Asserts that `fn` throws a `StateStreamError` with `code`, and returns it. */
export function expectCode(fn: () => unknown, code: ErrorCode): StateStreamError {
  const err = thrown(fn)
  expect(err).toBeInstanceOf(StateStreamError)
  expect((err as StateStreamError).code).toBe(code)
  return err as StateStreamError
}

/** Freezes `value` and everything under it, so any write to it throws (ES modules are strict). */
export function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child)
    Object.freeze(value)
  }
  return value
}

/**
 * The value as it would cross the wire. `-0` and `0` are the same JSON number; comparing after a
 * JSON round trip keeps `toEqual` (which tells them apart) to JSON semantics.
 */
export function wire(value: Json): unknown {
  return JSON.parse(JSON.stringify(value)) as unknown
}

/** Parses JSON text in a test table, so `__proto__` keys become own data properties as on the wire. */
export function json(text: string): Json {
  return JSON.parse(text) as Json
}

/**
 * Small JSON values over a handful of keys, so that two draws often share structure and the
 * diffs and merge patches between them are more than a root `replace`. The keys include the
 * characters JSON Pointer escapes and `__proto__`.
 */
export const smallJson: fc.Arbitrary<Json> = fc.anything({
  key: fc.constantFrom('a', 'b', 'c', '', '~', '/', 'a/b~c', '__proto__'),
  values: [fc.boolean(), fc.integer({ min: -3, max: 3 }), fc.constantFrom('x', 'y'), fc.constant(null)],
  maxDepth: 3,
  maxKeys: 4,
}) as fc.Arbitrary<Json>

/** Either any JSON value (`fc.jsonValue`) or a small one (see `smallJson`). */
export const anyJson: fc.Arbitrary<Json> = fc.oneof(fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, smallJson)
