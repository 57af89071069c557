/**
 * `PUT /v1/state`: a full state, stored as the mutation from the *current* state to it; nothing
 * stored when they are equal; an earlier value written back is a change like any other.
 */
import type { Json } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { expect } from 'vitest'
import { append, createState, expectError, headSeq, observe, stateAt, test } from './support.ts'

function putState(app: FastifyInstance, name: string, state: Json) {
  return app.inject({ method: 'PUT', url: `/v1/state/${name}`, headers: { 'content-type': 'application/json' }, payload: JSON.stringify(state) })
}

test('each new value is stored; an equal one stores nothing; an earlier one written back is stored', async ({ app, clock }) => {
  clock.set(5000)
  await createState(app, 's')
  const steps: Array<[Json, { stored: boolean; seq: number; ts: number }]> = [
    [{ a: 1 }, { stored: true, seq: 1, ts: 5001 }],
    [{ a: 1 }, { stored: false, seq: 1, ts: 5001 }],
    [{ a: 2 }, { stored: true, seq: 2, ts: 5003 }],
    [{ a: 1 }, { stored: true, seq: 3, ts: 5004 }],
    [{ a: 1 }, { stored: false, seq: 3, ts: 5004 }],
  ]
  for (const [i, [state, expected]] of steps.entries()) {
    clock.set(5001 + i)
    const res = await putState(app, 's', state)
    expect(res.statusCode, res.body).toBe(200)
    expect(res.json()).toEqual(expected)
  }
  expect(await headSeq(app, 's')).toBe(3)
  expect(await stateAt(app, 's', 'seq=2')).toMatchObject({ state: { a: 2 } })
  expect(await stateAt(app, 's', 'seq=3')).toEqual({ seq: 3, ts: 5004, state: { a: 1 } })
})

test('the diff is taken against the current state, including changes appended by others', async ({ app }) => {
  await createState(app, 's')
  await putState(app, 's', { a: 1, keep: 'x' })
  // Another writer changes the state through the log.
  await append(app, 's', { merge: { b: 5, keep: null } })
  const res = await putState(app, 's', { a: 1, c: 3 })
  expect(res.json()).toMatchObject({ stored: true, seq: 3 })
  expect((await stateAt(app, 's', '')).state).toEqual({ a: 1, c: 3 })
  // Writing back what the other writer produced is a change too.
  expect((await putState(app, 's', { a: 1, b: 5 })).json()).toMatchObject({ stored: true, seq: 4 })
  expect((await stateAt(app, 's', '')).state).toEqual({ a: 1, b: 5 })
})

test('an equal state stores nothing at all: the log and head are unchanged', async ({ app }) => {
  await createState(app, 's')
  await putState(app, 's', { nested: { list: [1, 2, { x: null }] }, n: 1.5 })
  const before = await observe(app, 's')
  // Same value, different key order and spacing.
  const res = await app.inject({
    method: 'PUT',
    url: '/v1/state/s',
    payload: '{ "n": 1.5, "nested": { "list": [1, 2, { "x": null }] } }',
  })
  expect(res.json()).toMatchObject({ stored: false, seq: 1 })
  expect(await observe(app, 's')).toEqual(before)
})

test.for([
  ['an array', [1, 'two', { three: 3 }]],
  ['a string', 'just text'],
  ['null', null],
  ['a number', 42],
  ['an empty object after a non-empty one', {}],
  ['keys that look like pointer syntax', { 'a/b': 1, '~0': 2, '': 3 }],
] as const)('any JSON value may be the state: %s', async ([, value], { app }) => {
  await createState(app, 's')
  await putState(app, 's', { before: true })
  const res = await putState(app, 's', value as Json)
  expect(res.json()).toMatchObject({ stored: true, seq: 2 })
  expect((await stateAt(app, 's', '')).state).toEqual(value)
  // The stored mutation replays to the same state from the log alone.
  expect((await stateAt(app, 's', 'seq=2')).state).toEqual(value)
})

test('what PUT stores is in the log as a mutation a reader can replay', async ({ app }) => {
  await createState(app, 's')
  await putState(app, 's', { a: 1, b: [1, 2, 3] })
  await putState(app, 's', { a: 1, b: [1, 3] })
  const log = await app.inject({ url: '/v1/stream/s?offset=-1' })
  const messages = log.json<Array<Record<string, unknown>>>()
  expect(messages).toHaveLength(2)
  for (const message of messages) {
    expect(Object.keys(message).filter((k) => k !== 'ts')).toHaveLength(1)
    expect(['patch', 'merge', 'set']).toContain(Object.keys(message).find((k) => k !== 'ts'))
  }
})

test.for([
  ['invalid JSON', '{"a":', 'INVALID_JSON'],
  ['an empty body', '', 'EMPTY_BODY'],
] as const)('PUT /v1/state with %s is refused and stores nothing', async ([, payload, code], { app }) => {
  await createState(app, 's')
  await putState(app, 's', { a: 1 })
  const before = await observe(app, 's')
  expectError(await app.inject({ method: 'PUT', url: '/v1/state/s', payload }), code)
  expect(await observe(app, 's')).toEqual(before)
})

test('PUT /v1/state on a plain stream or an unknown one is refused', async ({ app }) => {
  await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
  expectError(await putState(app, 'plain', { a: 1 }), 'NOT_A_STATE_STREAM')
  expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).body).toBe('[]')
  expectError(await putState(app, 'nope', { a: 1 }), 'STREAM_NOT_FOUND')
})
