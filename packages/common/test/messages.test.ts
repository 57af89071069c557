/**
 * The boundary checks of what writers send: `validateMessage` (valid and invalid mutation
 * messages), `parseJson` (`INVALID_JSON`), `splitMessages` (one level of batching) and `mutationOf`.
 */
import { expect, test } from 'vitest'
import { ErrorCode, mutationOf, parseJson, splitMessages, validateMessage } from '../src/index.ts'
import type { Json } from '../src/index.ts'
import { expectCode, json } from './support.ts'

const valid: { name: string; message: string }[] = [
  { name: 'an empty patch', message: '{"patch":[]}' },
  { name: 'every patch op', message: '{"patch":[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/a"},{"op":"replace","path":"","value":{}},{"op":"move","from":"/a","path":"/b"},{"op":"copy","from":"","path":"/c"},{"op":"test","path":"/c","value":null}]}' },
  { name: 'a null value is a value', message: '{"patch":[{"op":"add","path":"/a","value":null}]}' },
  { name: 'escaped pointers', message: '{"patch":[{"op":"add","path":"/a~1b/~0c/-","value":1}]}' },
  { name: 'unknown members of an op are ignored (RFC 6902 §4)', message: '{"patch":[{"op":"remove","path":"/a","xyz":1}]}' },
  { name: 'a merge', message: '{"merge":{"t":21.5}}' },
  { name: 'a null merge', message: '{"merge":null}' },
  { name: 'a set', message: '{"set":{"a":[1,2]}}' },
  { name: 'a set of null', message: '{"set":null}' },
  { name: 'a merge with ts', message: '{"merge":{"t":21.5},"ts":1700000000000}' },
  { name: 'a ts of 0', message: '{"set":1,"ts":0}' },
  { name: 'the largest safe ts', message: '{"patch":[],"ts":9007199254740991}' },
]

test.each(valid)('validateMessage accepts $name', ({ message }) => {
  const value = json(message)
  expect(validateMessage(value)).toBe(value)
  expect(value).toEqual(json(message))
})

const invalid: { name: string; message: string }[] = [
  { name: 'a number', message: '1' },
  { name: 'a string', message: '"set"' },
  { name: 'null', message: 'null' },
  { name: 'an array', message: '[{"set":1}]' },
  { name: 'an empty object', message: '{}' },
  { name: 'only a ts', message: '{"ts":1}' },
  { name: 'two kinds (patch and merge)', message: '{"patch":[],"merge":{}}' },
  { name: 'two kinds (merge and set)', message: '{"merge":{},"set":{}}' },
  { name: 'all three kinds', message: '{"patch":[],"merge":{},"set":{}}' },
  { name: 'an unknown member', message: '{"set":1,"extra":true}' },
  { name: 'a misspelt kind', message: '{"sett":1}' },
  { name: 'a negative ts', message: '{"set":1,"ts":-1}' },
  { name: 'a fractional ts', message: '{"set":1,"ts":1.5}' },
  { name: 'a string ts', message: '{"set":1,"ts":"1700000000000"}' },
  { name: 'a null ts', message: '{"set":1,"ts":null}' },
  { name: 'an unsafe ts', message: '{"set":1,"ts":9007199254740993}' },
  { name: 'patch is an object', message: '{"patch":{"op":"add","path":"/a","value":1}}' },
  { name: 'patch is null', message: '{"patch":null}' },
  { name: 'patch is a string', message: '{"patch":"[]"}' },
  { name: 'an op that is not an object', message: '{"patch":[1]}' },
  { name: 'an op that is an array', message: '{"patch":[["add","/a",1]]}' },
  { name: 'an unknown op', message: '{"patch":[{"op":"frobnicate","path":"/a"}]}' },
  { name: 'an op name in the wrong case', message: '{"patch":[{"op":"ADD","path":"/a","value":1}]}' },
  { name: 'a missing op', message: '{"patch":[{"path":"/a","value":1}]}' },
  { name: 'add without value', message: '{"patch":[{"op":"add","path":"/a"}]}' },
  { name: 'replace without value', message: '{"patch":[{"op":"replace","path":"/a"}]}' },
  { name: 'test without value', message: '{"patch":[{"op":"test","path":"/a"}]}' },
  { name: 'a missing path', message: '{"patch":[{"op":"remove"}]}' },
  { name: 'a numeric path', message: '{"patch":[{"op":"remove","path":0}]}' },
  { name: 'a path without a leading slash', message: '{"patch":[{"op":"remove","path":"a"}]}' },
  { name: 'a path with a bad escape ~2', message: '{"patch":[{"op":"remove","path":"/a~2b"}]}' },
  { name: 'a path ending in a lone ~', message: '{"patch":[{"op":"remove","path":"/a~"}]}' },
  { name: 'move without from', message: '{"patch":[{"op":"move","path":"/a"}]}' },
  { name: 'copy with a bad from', message: '{"patch":[{"op":"copy","from":"a","path":"/b"}]}' },
  { name: 'a bad op after good ones', message: '{"patch":[{"op":"add","path":"/a","value":1},{"op":"remove","path":"/a"},{"op":"move","from":"/a"}]}' },
]

test.each(invalid)('validateMessage refuses $name', ({ message }) => {
  const err = expectCode(() => validateMessage(json(message), 7), ErrorCode.INVALID_MUTATION)
  // The message says which message of a batch is wrong.
  expect(err.message).toContain('message 7')
})

test('validateMessage names the failing op of a patch', () => {
  const err = expectCode(
    () => validateMessage(json('{"patch":[{"op":"add","path":"/a","value":1},{"op":"add","path":"/b"}]}')),
    ErrorCode.INVALID_MUTATION,
  )
  expect(err.message).toContain('patch op 1')
})

test('validateMessage says a message must have exactly one kind', () => {
  const err = expectCode(() => validateMessage(json('{"merge":{},"set":{}}')), ErrorCode.INVALID_MUTATION)
  expect(err.message).toContain('exactly one of "patch", "merge" or "set"')
})

test('validateMessage says which pointer member is malformed and why', () => {
  const err = expectCode(
    () => validateMessage(json('{"patch":[{"op":"copy","from":"/a~2","path":"/b"}]}')),
    ErrorCode.INVALID_MUTATION,
  )
  expect(err.message).toContain('"from"')
  expect(err.message).toContain('"~" must be followed by 0 or 1')
})

test('mutationOf drops the writer-supplied ts and keeps the mutation', () => {
  expect(mutationOf(validateMessage(json('{"merge":{"a":1},"ts":5}')))).toEqual({ merge: { a: 1 } })
  expect(mutationOf(validateMessage(json('{"set":null,"ts":5}')))).toEqual({ set: null })
  expect(mutationOf(validateMessage(json('{"patch":[{"op":"remove","path":"/a"}]}')))).toEqual({
    patch: [{ op: 'remove', path: '/a' }],
  })
})

test.each([
  { name: 'an empty body', text: '' },
  { name: 'a truncated object', text: '{"set":' },
  { name: 'single quotes', text: "{'set':1}" },
  { name: 'a trailing comma', text: '[1,2,]' },
  { name: 'NaN', text: 'NaN' },
  { name: 'undefined', text: 'undefined' },
  { name: 'two documents', text: '{} {}' },
  { name: 'plain text', text: 'hello' },
])('parseJson refuses $name with INVALID_JSON', ({ text }) => {
  const err = expectCode(() => parseJson(text), ErrorCode.INVALID_JSON)
  // The parser's own complaint is kept as the cause, not thrown away.
  expect(err.cause).toBeInstanceOf(SyntaxError)
})

test('parseJson answers the value of valid JSON', () => {
  expect(parseJson('{"a":[1,null,"x"],"b":{"c":true}}')).toEqual({ a: [1, null, 'x'], b: { c: true } })
  expect(parseJson(' 3 ')).toBe(3)
  expect(parseJson('null')).toBeNull()
})

test.each<{ name: string; body: Json; messages: Json[] }>([
  { name: 'a single message is one message', body: { set: 1 }, messages: [{ set: 1 }] },
  { name: 'a scalar is one message', body: 'x', messages: ['x'] },
  { name: 'null is one message', body: null, messages: [null] },
  { name: 'an array is a batch', body: [{ set: 1 }, { merge: {} }], messages: [{ set: 1 }, { merge: {} }] },
  { name: 'an empty array is no message', body: [], messages: [] },
  { name: 'only one level is flattened', body: [[{ set: 1 }], [[2]], 3], messages: [[{ set: 1 }], [[2]], 3] },
])('splitMessages: $name', ({ body, messages }) => {
  expect(splitMessages(body)).toEqual(messages)
})
