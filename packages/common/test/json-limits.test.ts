/**
 * Depth and size limits on accepted JSON, and the mutation core on values of any depth: measuring,
 * refusing, merging, patching, comparing, diffing and writing a value nested far deeper than any
 * call stack holds, without recursion.
 */
import fc from 'fast-check'
import { describe, expect, test } from 'vitest'
import {
  MAX_JSON_DEPTH,
  MAX_JSON_MEMBERS,
  apply,
  applySequence,
  assertJsonLimits,
  diff,
  jsonDepth,
  jsonEqual,
  mergePatch,
  parseJson,
  stringifyJson,
  validateMessage,
} from '../src/index.ts'
import type { Json } from '../src/index.ts'
import { stringifyDeep } from '../src/json-limits.ts'
import { anyJson, expectCode } from './support.ts'

/** Far deeper than any engine's call stack: recursion over it would overflow. */
const ABYSS = 200_000

/** `{"a":{"a":…leaf…}}`, `depth` objects deep, built as text and parsed (as the wire does). */
function nested(depth: number, leaf = '1', key = 'a'): Json {
  return JSON.parse(`{"${key}":`.repeat(depth) + leaf + '}'.repeat(depth)) as Json
}

/** `[[…leaf…]]`, `depth` arrays deep. */
function nestedArrays(depth: number, leaf = '1'): Json {
  return JSON.parse('['.repeat(depth) + leaf + ']'.repeat(depth)) as Json
}

describe('jsonDepth', () => {
  test.for([
    ['a scalar', '1', 0],
    ['null', 'null', 0],
    ['an empty object', '{}', 1],
    ['an empty array', '[]', 1],
    ['a flat object', '{"a":1,"b":"x"}', 1],
    ['mixed nesting', '{"a":[1,{"b":[]}],"c":{}}', 4],
  ] as const)('%s (%s) nests %i levels', ([, text, depth]) => {
    expect(jsonDepth(JSON.parse(text) as Json)).toBe(depth)
  })

  test('measures a value deeper than any call stack, and stops early against a bound', () => {
    expect(jsonDepth(nested(ABYSS))).toBe(ABYSS)
    const bounded = jsonDepth(nested(ABYSS), 10)
    expect(bounded).toBeGreaterThan(10)
    expect(bounded).toBeLessThan(ABYSS)
  })
})

describe('assertJsonLimits and parseJson', () => {
  test('a body exactly MAX_JSON_DEPTH deep is accepted; one level more is JSON_TOO_DEEP', () => {
    expect(() => assertJsonLimits(nested(MAX_JSON_DEPTH))).not.toThrow()
    expect(() => assertJsonLimits(nestedArrays(MAX_JSON_DEPTH))).not.toThrow()
    expectCode(() => assertJsonLimits(nested(MAX_JSON_DEPTH + 1)), 'JSON_TOO_DEEP')
    expectCode(() => assertJsonLimits(nestedArrays(MAX_JSON_DEPTH + 1)), 'JSON_TOO_DEEP')
    const error = expectCode(() => parseJson('[{"set":' + '{"a":'.repeat(ABYSS) + '1' + '}'.repeat(ABYSS) + '}]'), 'JSON_TOO_DEEP')
    expect(error.message).toContain(String(MAX_JSON_DEPTH))
  })

  test('MAX_JSON_MEMBERS members in one object or array are accepted; one more is JSON_TOO_MANY_MEMBERS', () => {
    const array = (n: number): string => `[${'0,'.repeat(n - 1)}0]`
    const object = (n: number): string => `{${Array.from({ length: n }, (_, i) => `"k${i}":0`).join(',')}}`
    expect(() => parseJson(array(MAX_JSON_MEMBERS))).not.toThrow()
    expect(() => parseJson(object(MAX_JSON_MEMBERS))).not.toThrow()
    expectCode(() => parseJson(array(MAX_JSON_MEMBERS + 1)), 'JSON_TOO_MANY_MEMBERS')
    expectCode(() => parseJson(`{"merge":{"x":${object(MAX_JSON_MEMBERS + 1)}}}`), 'JSON_TOO_MANY_MEMBERS')
  })

  test('an invalid body is INVALID_JSON with a short message, however long the body', () => {
    const error = expectCode(() => parseJson(`{"a":${'x'.repeat(100_000)}}`), 'INVALID_JSON')
    expect(error.message.length).toBeLessThan(400)
  })

  test('a patch path with more reference tokens than the depth limit is JSON_TOO_DEEP', () => {
    const path = '/a'.repeat(MAX_JSON_DEPTH + 1)
    expectCode(() => validateMessage({ patch: [{ op: 'add', path, value: 1 }] }), 'JSON_TOO_DEEP')
    expect(() => validateMessage({ patch: [{ op: 'add', path: '/a'.repeat(MAX_JSON_DEPTH), value: 1 }] })).not.toThrow()
    // The message quotes a short prefix of the path, never all of it.
    const long = `/${'p'.repeat(10_000)}`
    const error = expectCode(() => apply({}, { patch: [{ op: 'remove', path: long }] }), 'MUTATION_FAILED')
    expect(error.message.length).toBeLessThan(300)
  })
})

describe('stringifyJson', () => {
  test('property: its loop writes exactly what JSON.stringify writes', () => {
    fc.assert(
      fc.property(anyJson, (value) => {
        expect(stringifyDeep(value)).toBe(JSON.stringify(value))
      }),
      { numRuns: 500 },
    )
  })

  test('writes a value deeper than JSON.stringify can, to text that parses back to it', () => {
    const deep = nested(ABYSS, '[1,"x",{"b":null}]')
    expect(() => JSON.stringify(deep)).toThrow(RangeError)
    const text = stringifyJson(deep)
    expect(text).toBe('{"a":'.repeat(ABYSS) + '[1,"x",{"b":null}]' + '}'.repeat(ABYSS))
    expect(jsonEqual(JSON.parse(text) as Json, deep)).toBe(true)
  })
})

describe('the mutation core at any depth', () => {
  test('mergePatch merges a patch nested deeper than any call stack, sharing the untouched members', () => {
    const target = JSON.parse(`{"keep":{"x":1},"deep":${stringifyJson(nested(ABYSS, '{"old":1}'))}}`) as Json
    const patch = JSON.parse(`{"deep":${stringifyJson(nested(ABYSS, '{"new":2}'))}}`) as Json
    const merged = mergePatch(target, patch) as { keep: Json; deep: Json }
    expect(merged.keep).toBe((target as { keep: Json }).keep)
    expect(stringifyJson(merged.deep)).toBe('{"a":'.repeat(ABYSS) + '{"old":1,"new":2}' + '}'.repeat(ABYSS))
    // The target was not changed.
    expect(stringifyJson((target as { deep: Json }).deep)).toBe('{"a":'.repeat(ABYSS) + '{"old":1}' + '}'.repeat(ABYSS))
  })

  test('a patch op along a path deeper than any call stack is applied (replaying stored history)', () => {
    const state = nested(ABYSS, '{"leaf":1}')
    const path = '/a'.repeat(ABYSS) + '/leaf'
    const next = apply(state, { patch: [{ op: 'replace', path, value: 2 }, { op: 'test', path, value: 2 }] })
    expect(stringifyJson(next)).toBe('{"a":'.repeat(ABYSS) + '{"leaf":2}' + '}'.repeat(ABYSS))
    expect(applySequence(state, [{ patch: [{ op: 'remove', path }] }, { merge: { b: 1 } }])).toMatchObject({ b: 1 })
  })

  test('jsonEqual and diff compare values deeper than any call stack', () => {
    const a = nested(ABYSS, '{"x":1}')
    const b = nested(ABYSS, '{"x":2}')
    expect(jsonEqual(a, nested(ABYSS, '{"x":1}'))).toBe(true)
    expect(jsonEqual(a, b)).toBe(false)
    const ops = diff(a, b)
    expect(ops).toHaveLength(1)
    expect(jsonEqual(apply(a, { patch: ops }), b)).toBe(true)
  })

  test('diff keeps the order of a depth-first walk: removes, then members in order; array tails last', () => {
    const a = { r: 1, k: { x: 1 }, l: [1, 2, 3] } as Json
    const b = { k: { x: 2 }, l: [9], n: 3 } as Json
    expect(diff(a, b)).toEqual([
      { op: 'remove', path: '/r' },
      { op: 'replace', path: '/k/x', value: 2 },
      { op: 'replace', path: '/l/0', value: 9 },
      { op: 'remove', path: '/l/2' },
      { op: 'remove', path: '/l/1' },
      { op: 'add', path: '/n', value: 3 },
    ])
  })
})

describe('apply with a depth limit', () => {
  const limit = 8

  test('an add or replace that would nest the state deeper than the limit is JSON_TOO_DEEP', () => {
    const state = nested(limit - 1) // limit - 1 objects: {"a":…{"a":1}}
    // The innermost object's member "a": a place `limit - 1` tokens deep.
    const path = '/a'.repeat(limit - 1)
    expect(jsonDepth(apply(state, { patch: [{ op: 'replace', path, value: { b: 1 } }] }, limit))).toBe(limit)
    expectCode(() => apply(state, { patch: [{ op: 'replace', path, value: { b: { c: 1 } } }] }, limit), 'JSON_TOO_DEEP')
    expectCode(() => apply(state, { patch: [{ op: 'add', path: `${path.slice(2)}/b`, value: [[1]] }] }, limit), 'JSON_TOO_DEEP')
    // Without a limit (a replay of stored history) the same op applies.
    expect(jsonDepth(apply(state, { patch: [{ op: 'replace', path, value: { b: { c: 1 } } }] }))).toBe(limit + 1)
  })

  test('a copy or move deeper into the state is measured; one to a shallower place is not refused', () => {
    const state = { x: nested(limit - 1), y: {} } as Json // at the limit
    expectCode(() => apply(state, { patch: [{ op: 'copy', from: '/x', path: '/y/z' }] }, limit), 'JSON_TOO_DEEP')
    expectCode(() => apply(state, { patch: [{ op: 'move', from: '/x', path: '/y/z' }] }, limit), 'JSON_TOO_DEEP')
    expect(apply(state, { patch: [{ op: 'copy', from: '/x/a', path: '/w' }] }, limit)).toHaveProperty('w')
    expect(apply({ x: {}, y: { z: 1 } }, { patch: [{ op: 'copy', from: '/y', path: '/x/y' }] }, limit)).toEqual({ x: { y: { z: 1 } }, y: { z: 1 } })
  })

  test('property: with the limit, apply either refuses or gives a state within it', () => {
    const ops = fc.record({
      op: fc.constantFrom('add', 'copy', 'move'),
      path: fc.constantFrom('/a', '/a/a', '/b', '/a/b', '/b/a/a'),
      from: fc.constantFrom('/a', '/b', '/a/a'),
      value: anyJson,
    })
    fc.assert(
      fc.property(fc.array(ops, { maxLength: 8 }), (list) => {
        let state: Json = { a: { a: {} }, b: {} }
        for (const op of list) {
          try {
            state = apply(state, { patch: [op as never] }, 5)
          } catch {
            continue
          }
          expect(jsonDepth(state)).toBeLessThanOrEqual(5)
        }
      }),
    )
  })
})
