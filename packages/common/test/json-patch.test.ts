/**
 * RFC 6902 JSON Patch as `apply` runs it: the RFC's own examples (appendix A), the strict refusals
 * (`MUTATION_FAILED`), immutability of the input, and structural sharing of what a patch leaves alone.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { apply, ErrorCode } from '../src/index.ts'
import type { Json, PatchOp } from '../src/index.ts'
import { anyJson, deepFreeze, expectCode, json } from './support.ts'

interface ApplyCase {
  name: string
  doc: string
  patch: string
  expected: string
}

// Documents and patches are JSON text, exactly as in the RFC, so what is tested is what a writer sends.
const rfcCases: ApplyCase[] = [
  { name: 'A.1 adding an object member', doc: '{"foo":"bar"}', patch: '[{"op":"add","path":"/baz","value":"qux"}]', expected: '{"baz":"qux","foo":"bar"}' },
  { name: 'A.2 adding an array element', doc: '{"foo":["bar","baz"]}', patch: '[{"op":"add","path":"/foo/1","value":"qux"}]', expected: '{"foo":["bar","qux","baz"]}' },
  { name: 'A.3 removing an object member', doc: '{"baz":"qux","foo":"bar"}', patch: '[{"op":"remove","path":"/baz"}]', expected: '{"foo":"bar"}' },
  { name: 'A.4 removing an array element', doc: '{"foo":["bar","qux","baz"]}', patch: '[{"op":"remove","path":"/foo/1"}]', expected: '{"foo":["bar","baz"]}' },
  { name: 'A.5 replacing a value', doc: '{"baz":"qux","foo":"bar"}', patch: '[{"op":"replace","path":"/baz","value":"boo"}]', expected: '{"baz":"boo","foo":"bar"}' },
  {
    name: 'A.6 moving a value',
    doc: '{"foo":{"bar":"baz","waldo":"fred"},"qux":{"corge":"grault"}}',
    patch: '[{"op":"move","from":"/foo/waldo","path":"/qux/thud"}]',
    expected: '{"foo":{"bar":"baz"},"qux":{"corge":"grault","thud":"fred"}}',
  },
  { name: 'A.7 moving an array element', doc: '{"foo":["all","grass","cows","eat"]}', patch: '[{"op":"move","from":"/foo/1","path":"/foo/3"}]', expected: '{"foo":["all","cows","eat","grass"]}' },
  {
    name: 'A.8 testing a value: success',
    doc: '{"baz":"qux","foo":["a",2,"c"]}',
    patch: '[{"op":"test","path":"/baz","value":"qux"},{"op":"test","path":"/foo/1","value":2}]',
    expected: '{"baz":"qux","foo":["a",2,"c"]}',
  },
  { name: 'A.10 adding a nested member object', doc: '{"foo":"bar"}', patch: '[{"op":"add","path":"/child","value":{"grandchild":{}}}]', expected: '{"foo":"bar","child":{"grandchild":{}}}' },
  { name: 'A.11 ignoring unrecognized elements', doc: '{"foo":"bar"}', patch: '[{"op":"add","path":"/baz","value":"qux","xyz":123}]', expected: '{"foo":"bar","baz":"qux"}' },
  { name: 'A.14 ~ escape ordering', doc: '{"/":9,"~1":10}', patch: '[{"op":"test","path":"/~01","value":10}]', expected: '{"/":9,"~1":10}' },
  { name: 'A.16 adding an array value', doc: '{"foo":["bar"]}', patch: '[{"op":"add","path":"/foo/-","value":["abc","def"]}]', expected: '{"foo":["bar",["abc","def"]]}' },
]

const moreCases: ApplyCase[] = [
  { name: 'add replaces an existing member', doc: '{"a":1}', patch: '[{"op":"add","path":"/a","value":[2]}]', expected: '{"a":[2]}' },
  { name: 'add at index = length appends', doc: '[1,2]', patch: '[{"op":"add","path":"/2","value":3}]', expected: '[1,2,3]' },
  { name: 'add at index 0 prepends', doc: '[1,2]', patch: '[{"op":"add","path":"/0","value":0}]', expected: '[0,1,2]' },
  { name: '- appends to an empty array', doc: '{"a":[]}', patch: '[{"op":"add","path":"/a/-","value":{"x":1}}]', expected: '{"a":[{"x":1}]}' },
  { name: 'add at the root replaces the document', doc: '{"a":1}', patch: '[{"op":"add","path":"","value":[1]}]', expected: '[1]' },
  { name: 'replace at the root', doc: '[1]', patch: '[{"op":"replace","path":"","value":"s"}]', expected: '"s"' },
  { name: 'replace an array element', doc: '[1,2,3]', patch: '[{"op":"replace","path":"/1","value":null}]', expected: '[1,null,3]' },
  { name: 'remove the last array element', doc: '[1,2,3]', patch: '[{"op":"remove","path":"/2"}]', expected: '[1,2]' },
  { name: 'nested path through objects and arrays', doc: '{"a":[{"b":{"c":[0,1]}}]}', patch: '[{"op":"replace","path":"/a/0/b/c/1","value":"one"}]', expected: '{"a":[{"b":{"c":[0,"one"]}}]}' },
  { name: '~1 in a path is "/"', doc: '{"a/b":1}', patch: '[{"op":"replace","path":"/a~1b","value":2}]', expected: '{"a/b":2}' },
  { name: '~0 in a path is "~"', doc: '{"m~n":1}', patch: '[{"op":"remove","path":"/m~0n"}]', expected: '{}' },
  { name: '~01 is "~1", not "/"', doc: '{}', patch: '[{"op":"add","path":"/~01","value":1}]', expected: '{"~1":1}' },
  { name: 'an empty key is a member too', doc: '{"":{"":1}}', patch: '[{"op":"replace","path":"//","value":2}]', expected: '{"":{"":2}}' },
  { name: 'copy an object member', doc: '{"a":{"x":[1]},"b":{}}', patch: '[{"op":"copy","from":"/a","path":"/b/c"}]', expected: '{"a":{"x":[1]},"b":{"c":{"x":[1]}}}' },
  { name: 'copy an array element to the end', doc: '[1,2]', patch: '[{"op":"copy","from":"/0","path":"/-"}]', expected: '[1,2,1]' },
  { name: 'copy into a child of itself', doc: '{"a":{"b":1}}', patch: '[{"op":"copy","from":"/a","path":"/a/c"}]', expected: '{"a":{"b":1,"c":{"b":1}}}' },
  { name: 'move onto itself is a no-op', doc: '{"a":1}', patch: '[{"op":"move","from":"/a","path":"/a"}]', expected: '{"a":1}' },
  { name: 'move replaces an existing target', doc: '{"a":1,"b":2}', patch: '[{"op":"move","from":"/a","path":"/b"}]', expected: '{"b":1}' },
  { name: 'move an array element backwards', doc: '[0,1,2,3]', patch: '[{"op":"move","from":"/3","path":"/0"}]', expected: '[3,0,1,2]' },
  { name: 'move out of an array into an object', doc: '{"a":[1,2],"b":{}}', patch: '[{"op":"move","from":"/a/0","path":"/b/x"}]', expected: '{"a":[2],"b":{"x":1}}' },
  { name: 'move a member to the root', doc: '{"a":{"b":1}}', patch: '[{"op":"move","from":"/a","path":""}]', expected: '{"b":1}' },
  { name: 'test compares objects regardless of key order', doc: '{"a":{"x":1,"y":[1,{"z":null}]}}', patch: '[{"op":"test","path":"/a","value":{"y":[1,{"z":null}],"x":1}}]', expected: '{"a":{"x":1,"y":[1,{"z":null}]}}' },
  { name: 'test the root', doc: '[1]', patch: '[{"op":"test","path":"","value":[1]}]', expected: '[1]' },
  { name: 'test a null member', doc: '{"a":null}', patch: '[{"op":"test","path":"/a","value":null}]', expected: '{"a":null}' },
  { name: 'ops apply in order, each to the result of the last', doc: '{}', patch: '[{"op":"add","path":"/a","value":[]},{"op":"add","path":"/a/-","value":1},{"op":"copy","from":"/a","path":"/b"},{"op":"replace","path":"/a/0","value":2},{"op":"test","path":"/b","value":[1]}]', expected: '{"a":[2],"b":[1]}' },
  { name: 'an empty patch keeps the state', doc: '{"a":1}', patch: '[]', expected: '{"a":1}' },
  { name: 'a scalar state can be patched at the root', doc: '3', patch: '[{"op":"replace","path":"","value":{"a":1}}]', expected: '{"a":1}' },
]

test.each([...rfcCases, ...moreCases])('apply: $name', ({ doc, patch, expected }) => {
  // Every input is frozen: a write to it would throw, so success also proves apply copied.
  const input = deepFreeze(json(doc))
  const result = apply(input, { patch: json(patch) as PatchOp[] })
  expect(result).toEqual(json(expected))
  expect(input).toEqual(json(doc))
})

interface FailCase {
  name: string
  doc: string
  patch: string
}

const failCases: FailCase[] = [
  { name: 'A.9 testing a value: error', doc: '{"baz":"qux"}', patch: '[{"op":"test","path":"/baz","value":"bar"}]' },
  { name: 'A.12 adding to a nonexistent target', doc: '{"foo":"bar"}', patch: '[{"op":"add","path":"/baz/bat","value":"qux"}]' },
  { name: 'A.15 comparing strings and numbers', doc: '{"/":9,"~1":10}', patch: '[{"op":"test","path":"/~01","value":"10"}]' },
  { name: 'remove a missing member', doc: '{"a":1}', patch: '[{"op":"remove","path":"/b"}]' },
  { name: 'remove a missing nested member', doc: '{"a":{}}', patch: '[{"op":"remove","path":"/a/b"}]' },
  { name: 'replace a missing member', doc: '{"a":1}', patch: '[{"op":"replace","path":"/b","value":1}]' },
  { name: 'remove a prototype member', doc: '{}', patch: '[{"op":"remove","path":"/toString"}]' },
  { name: 'replace __proto__ that is not an own member', doc: '{}', patch: '[{"op":"replace","path":"/__proto__","value":{}}]' },
  { name: 'add through __proto__ that is not an own member', doc: '{}', patch: '[{"op":"add","path":"/__proto__/polluted","value":true}]' },
  { name: 'replace an array index out of range', doc: '[1,2]', patch: '[{"op":"replace","path":"/2","value":3}]' },
  { name: 'remove an array index out of range', doc: '[1,2]', patch: '[{"op":"remove","path":"/2"}]' },
  { name: 'remove from an empty array', doc: '[]', patch: '[{"op":"remove","path":"/0"}]' },
  { name: 'add past the end of an array', doc: '[1,2]', patch: '[{"op":"add","path":"/3","value":3}]' },
  { name: 'leading-zero index 01 (add)', doc: '[1,2,3]', patch: '[{"op":"add","path":"/01","value":0}]' },
  { name: 'leading-zero index 01 (replace)', doc: '[1,2,3]', patch: '[{"op":"replace","path":"/01","value":0}]' },
  { name: 'leading-zero index 00 (remove)', doc: '[1,2,3]', patch: '[{"op":"remove","path":"/00"}]' },
  { name: 'leading-zero index 01 (test)', doc: '[1,2,3]', patch: '[{"op":"test","path":"/01","value":2}]' },
  { name: 'negative index', doc: '[1,2]', patch: '[{"op":"replace","path":"/-1","value":0}]' },
  { name: 'non-numeric index', doc: '[1,2]', patch: '[{"op":"add","path":"/x","value":0}]' },
  { name: 'index with a sign', doc: '[1,2]', patch: '[{"op":"remove","path":"/+1"}]' },
  { name: 'index in exponent form', doc: '[1,2]', patch: '[{"op":"remove","path":"/1e0"}]' },
  { name: '"length" is not an index', doc: '[1,2]', patch: '[{"op":"replace","path":"/length","value":0}]' },
  { name: '- with replace', doc: '[1]', patch: '[{"op":"replace","path":"/-","value":0}]' },
  { name: '- with remove', doc: '[1]', patch: '[{"op":"remove","path":"/-"}]' },
  { name: '- in the middle of a path', doc: '{"a":[{"b":1}]}', patch: '[{"op":"add","path":"/a/-/b","value":0}]' },
  { name: 'array index past the end in the middle of a path', doc: '{"a":[{"b":1}]}', patch: '[{"op":"add","path":"/a/1/b","value":0}]' },
  { name: 'test a missing path', doc: '{"a":1}', patch: '[{"op":"test","path":"/b","value":null}]' },
  { name: 'test an array element against a different value', doc: '[1,[2]]', patch: '[{"op":"test","path":"/1","value":[2,3]}]' },
  { name: 'test 1 against true', doc: '{"a":1}', patch: '[{"op":"test","path":"/a","value":true}]' },
  { name: 'test {} against []', doc: '{"a":{}}', patch: '[{"op":"test","path":"/a","value":[]}]' },
  { name: 'test a subset object', doc: '{"a":{"x":1,"y":2}}', patch: '[{"op":"test","path":"/a","value":{"x":1}}]' },
  { name: 'move into its own child', doc: '{"a":{"b":{}}}', patch: '[{"op":"move","from":"/a","path":"/a/b/c"}]' },
  { name: 'move the root into a member', doc: '{"a":1}', patch: '[{"op":"move","from":"","path":"/b"}]' },
  { name: 'move from a missing member', doc: '{"a":1}', patch: '[{"op":"move","from":"/b","path":"/c"}]' },
  { name: 'move a missing member onto itself', doc: '{"a":1}', patch: '[{"op":"move","from":"/b","path":"/b"}]' },
  { name: 'copy from a missing member', doc: '{"a":1}', patch: '[{"op":"copy","from":"/b","path":"/c"}]' },
  { name: 'copy from an index out of range', doc: '[1]', patch: '[{"op":"copy","from":"/1","path":"/-"}]' },
  { name: 'add through a number', doc: '{"a":1}', patch: '[{"op":"add","path":"/a/b","value":2}]' },
  { name: 'add through a string', doc: '{"a":"str"}', patch: '[{"op":"add","path":"/a/0","value":"x"}]' },
  { name: 'add through null', doc: '{"a":null}', patch: '[{"op":"add","path":"/a/b","value":1}]' },
  { name: 'add into a scalar root', doc: '7', patch: '[{"op":"add","path":"/a","value":1}]' },
  { name: 'replace deep through a scalar', doc: '{"a":{"b":true}}', patch: '[{"op":"replace","path":"/a/b/c/d","value":1}]' },
  { name: 'test through a scalar', doc: '{"a":"xyz"}', patch: '[{"op":"test","path":"/a/0","value":"x"}]' },
  { name: 'remove the root', doc: '{"a":1}', patch: '[{"op":"remove","path":""}]' },
  { name: 'a later op fails after earlier ones succeeded', doc: '{"a":1}', patch: '[{"op":"add","path":"/b","value":2},{"op":"remove","path":"/a"},{"op":"test","path":"/a","value":1}]' },
]

test.each(failCases)('apply refuses: $name', ({ doc, patch }) => {
  const input = deepFreeze(json(doc))
  const err = expectCode(() => apply(input, { patch: json(patch) as PatchOp[] }), ErrorCode.MUTATION_FAILED)
  // The message names the failing op, so a writer can find it in a batch.
  expect(err.message).toMatch(/patch op \d+/)
  expect(input).toEqual(json(doc))
  // Nothing leaked onto any prototype while trying.
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
})

test('apply names the index of the op that failed', () => {
  const patch: PatchOp[] = [
    { op: 'add', path: '/a', value: 1 },
    { op: 'test', path: '/a', value: 1 },
    { op: 'remove', path: '/missing' },
  ]
  const err = expectCode(() => apply({}, { patch }), ErrorCode.MUTATION_FAILED)
  expect(err.message).toContain('patch op 2')
})

test('a failed patch leaves the caller with the state it had', () => {
  const state = deepFreeze({ a: [1, 2], b: { c: 'x' } }) as Json
  const patch: PatchOp[] = [
    { op: 'add', path: '/a/-', value: 3 },
    { op: 'replace', path: '/b/c', value: 'y' },
    { op: 'test', path: '/b/c', value: 'x' },
  ]
  expectCode(() => apply(state, { patch }), ErrorCode.MUTATION_FAILED)
  expect(state).toEqual({ a: [1, 2], b: { c: 'x' } })
})

test('apply shares every subtree a patch does not touch', () => {
  const input = deepFreeze({
    big: { deep: { list: [1, 2, 3] } },
    b: { c: 1, d: { e: 2 } },
    arr: [{ x: 1 }, { y: 2 }, { z: 3 }],
  })
  const result = apply(input, {
    patch: [
      { op: 'replace', path: '/b/c', value: 10 },
      { op: 'add', path: '/arr/1/w', value: 0 },
    ],
  }) as typeof input & { arr: { w?: number }[] }

  expect(result).not.toBe(input)
  expect(result.big).toBe(input.big)
  expect(result.b).not.toBe(input.b)
  expect(result.b.d).toBe(input.b.d)
  expect(result.arr).not.toBe(input.arr)
  expect(result.arr[0]).toBe(input.arr[0])
  expect(result.arr[1]).not.toBe(input.arr[1])
  expect(result.arr[2]).toBe(input.arr[2])
  expect(result).toEqual({
    big: { deep: { list: [1, 2, 3] } },
    b: { c: 10, d: { e: 2 } },
    arr: [{ x: 1 }, { y: 2, w: 0 }, { z: 3 }],
  })
})

test('move and copy carry the value itself and share what they leave behind', () => {
  const input = deepFreeze({ a: { payload: { n: 1 } }, b: { keep: [1] }, c: {} })
  const moved = apply(input, { patch: [{ op: 'move', from: '/a/payload', path: '/c/p' }] }) as {
    a: object
    b: object
    c: { p: object }
  }
  expect(moved.c.p).toBe(input.a.payload)
  expect(moved.b).toBe(input.b)
  expect(moved.a).toEqual({})

  const copied = apply(input, { patch: [{ op: 'copy', from: '/b', path: '/c/q' }] }) as { a: object; c: { q: object } }
  expect(copied.c.q).toEqual(input.b)
  expect(copied.a).toBe(input.a)
})

test('a patch of only tests answers the same state object', () => {
  const input = deepFreeze({ a: [1], b: 'x' })
  const result = apply(input, {
    patch: [
      { op: 'test', path: '/a', value: [1] },
      { op: 'test', path: '/b', value: 'x' },
    ],
  })
  expect(result).toBe(input)
})

test('__proto__ members are plain own data and never touch a prototype', () => {
  const input = deepFreeze(json('{"keep":{}}'))
  const added = apply(input, { patch: [{ op: 'add', path: '/__proto__', value: { polluted: true } }] }) as Record<string, Json>
  expect(Object.hasOwn(added, '__proto__')).toBe(true)
  expect(Object.getPrototypeOf(added)).toBe(Object.prototype)
  expect(added['polluted']).toBeUndefined()
  expect(({} as Record<string, unknown>)['polluted']).toBeUndefined()
  expect(JSON.stringify(added)).toBe('{"keep":{},"__proto__":{"polluted":true}}')

  // Once it is an own member, the usual ops reach it like any other member.
  const nested = apply(added, { patch: [{ op: 'add', path: '/__proto__/more', value: 1 }] })
  expect(JSON.stringify(nested)).toBe('{"keep":{},"__proto__":{"polluted":true,"more":1}}')
  const moved = apply(added, { patch: [{ op: 'move', from: '/__proto__', path: '/keep/__proto__' }] }) as Record<string, Json>
  expect(JSON.stringify(moved)).toBe('{"keep":{"__proto__":{"polluted":true}}}')
  expect(Object.getPrototypeOf(moved['keep'])).toBe(Object.prototype)
  const removed = apply(added, { patch: [{ op: 'remove', path: '/__proto__' }] })
  expect(JSON.stringify(removed)).toBe('{"keep":{}}')
  expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false)
})

test('set replaces the whole state with exactly the value given', () => {
  const value = { fresh: [1, { two: 2 }] }
  expect(apply(deepFreeze({ old: true }), { set: value })).toBe(value)
  expect(apply(deepFreeze([1, 2]), { set: null })).toBeNull()
  expect(apply('s', { set: {} })).toEqual({})
})

test('property: set answers its value whatever the state', () => {
  fc.assert(
    fc.property(anyJson, anyJson, (state, value) => {
      expect(apply(deepFreeze(state), { set: value })).toBe(value)
    }),
  )
})
