/**
 * RFC 7386 JSON Merge Patch: the RFC's appendix A table (through `mergePatch` and through
 * `apply({ merge })`), sharing of untouched members, and `__proto__` keys as plain data.
 */
import { expect, test } from 'vitest'
import { apply, mergePatch } from '../src/index.ts'
import type { Json } from '../src/index.ts'
import { deepFreeze, json } from './support.ts'

// Appendix A of RFC 7386, verbatim, then a few more of our own.
const cases: { original: string; patch: string; result: string }[] = [
  { original: '{"a":"b"}', patch: '{"a":"c"}', result: '{"a":"c"}' },
  { original: '{"a":"b"}', patch: '{"b":"c"}', result: '{"a":"b","b":"c"}' },
  { original: '{"a":"b"}', patch: '{"a":null}', result: '{}' },
  { original: '{"a":"b","b":"c"}', patch: '{"a":null}', result: '{"b":"c"}' },
  { original: '{"a":["b"]}', patch: '{"a":"c"}', result: '{"a":"c"}' },
  { original: '{"a":"c"}', patch: '{"a":["b"]}', result: '{"a":["b"]}' },
  { original: '{"a":{"b":"c"}}', patch: '{"a":{"b":"d","c":null}}', result: '{"a":{"b":"d"}}' },
  { original: '{"a":[{"b":"c"}]}', patch: '{"a":[1]}', result: '{"a":[1]}' },
  { original: '["a","b"]', patch: '["c","d"]', result: '["c","d"]' },
  { original: '{"a":"b"}', patch: '["c"]', result: '["c"]' },
  { original: '{"a":"foo"}', patch: 'null', result: 'null' },
  { original: '{"a":"foo"}', patch: '"bar"', result: '"bar"' },
  { original: '{"e":null}', patch: '{"a":1}', result: '{"e":null,"a":1}' },
  { original: '[1,2]', patch: '{"a":"b","c":null}', result: '{"a":"b"}' },
  { original: '{}', patch: '{"a":{"bb":{"ccc":null}}}', result: '{"a":{"bb":{}}}' },
  // The example of RFC 7386 §1.
  {
    original: '{"title":"Goodbye!","author":{"givenName":"John","familyName":"Doe"},"tags":["example","sample"],"content":"This will be unchanged"}',
    patch: '{"title":"Hello!","phoneNumber":"+01-123-456-7890","author":{"familyName":null},"tags":["example"]}',
    result: '{"title":"Hello!","author":{"givenName":"John"},"tags":["example"],"content":"This will be unchanged","phoneNumber":"+01-123-456-7890"}',
  },
  { original: '{"a":1}', patch: '{}', result: '{"a":1}' },
  { original: '"s"', patch: '{}', result: '{}' },
  { original: 'null', patch: '{"a":{"b":null,"c":[null]}}', result: '{"a":{"c":[null]}}' },
  { original: '{"a":{"b":1}}', patch: '{"a":{"b":null}}', result: '{"a":{}}' },
  { original: '{"a":{"b":1}}', patch: '{"a":5}', result: '{"a":5}' },
  { original: '{"a":5}', patch: '{"a":{"b":null,"c":1}}', result: '{"a":{"c":1}}' },
  { original: '{"a":1}', patch: '{"missing":null}', result: '{"a":1}' },
]

test.each(cases)('mergePatch($original, $patch) = $result', ({ original, patch, result }) => {
  const target = deepFreeze(json(original))
  const frozenPatch = deepFreeze(json(patch))
  expect(mergePatch(target, frozenPatch)).toEqual(json(result))
  expect(apply(target, { merge: frozenPatch })).toEqual(json(result))
  // Neither the target nor the patch was written to (both are frozen) and both still read the same.
  expect(target).toEqual(json(original))
  expect(frozenPatch).toEqual(json(patch))
})

test('a merge patch shares every member it does not touch', () => {
  const target = deepFreeze({ a: { x: [1, 2] }, b: { c: { d: 1 }, e: { f: 2 } }, g: [{ h: 1 }] })
  const result = mergePatch(target, { b: { e: { f: 3 } } }) as typeof target

  expect(result).not.toBe(target)
  expect(result.a).toBe(target.a)
  expect(result.g).toBe(target.g)
  expect(result.b).not.toBe(target.b)
  expect(result.b.c).toBe(target.b.c)
  expect(result).toEqual({ a: { x: [1, 2] }, b: { c: { d: 1 }, e: { f: 3 } }, g: [{ h: 1 }] })
})

test('a merge patch deleting a member shares the others', () => {
  const target = deepFreeze({ a: { x: 1 }, b: { y: 2 } })
  const result = apply(target, { merge: { a: null } }) as Partial<typeof target>
  expect(result).toEqual({ b: { y: 2 } })
  expect(result.b).toBe(target.b)
})

test('a __proto__ key of a merge patch becomes an own data member, not a prototype', () => {
  const patch = json('{"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}')
  const result = mergePatch(deepFreeze({ keep: 1 }), patch) as Record<string, Json>

  expect(Object.hasOwn(result, '__proto__')).toBe(true)
  expect(Object.getPrototypeOf(result)).toBe(Object.prototype)
  expect(result['polluted']).toBeUndefined()
  const nested = result['nested'] as Record<string, Json>
  expect(Object.hasOwn(nested, '__proto__')).toBe(true)
  expect(Object.getPrototypeOf(nested)).toBe(Object.prototype)
  expect(nested['polluted']).toBeUndefined()
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
  expect(JSON.stringify(result)).toBe('{"keep":1,"__proto__":{"polluted":true},"nested":{"__proto__":{"polluted":true}}}')
})

test('an own __proto__ member merges and deletes like any other member', () => {
  const target = deepFreeze(json('{"__proto__":{"a":1,"b":2},"keep":true}'))
  const merged = mergePatch(target, json('{"__proto__":{"a":null,"c":3}}'))
  expect(JSON.stringify(merged)).toBe('{"__proto__":{"b":2,"c":3},"keep":true}')
  expect(Object.getPrototypeOf(merged)).toBe(Object.prototype)

  const deleted = mergePatch(target, json('{"__proto__":null}')) as Record<string, Json>
  expect(Object.hasOwn(deleted, '__proto__')).toBe(false)
  expect(Object.getPrototypeOf(deleted)).toBe(Object.prototype)
  expect(JSON.stringify(deleted)).toBe('{"keep":true}')
})
