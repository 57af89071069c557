/**
 * Nesting and size limits at the boundary, and streams that stay readable and appendable whatever
 * they hold: a body deeper than `MAX_JSON_DEPTH` is a 400 that stores nothing, values at the limit
 * are stored, read, snapshotted and appended to, and a stream holding a value stored before the
 * limit existed (far deeper than any call stack) is still served on every route, never a 500.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { MAX_JSON_DEPTH } from '@statestream/common'
import type { Json } from '@statestream/common'
import { describe, expect, inject } from 'vitest'
import { append, createState, expectError, observe, post, test } from './support.ts'

/** `{"a":{"a":…leaf…}}` as text, `depth` objects deep. */
function nestedText(depth: number, leaf = '1'): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth)
}

describe('over the limit at the boundary', () => {
  test.for([
    ['a batch of one deep set (the 36 KB body of the report)', `[{"set":${nestedText(6000)}}]`],
    ['a single deep merge', `{"merge":${nestedText(6000)}}`],
    ['a single deep set', `{"set":${nestedText(6000)}}`],
    ['a deep patch value', `{"patch":[{"op":"add","path":"/x","value":${nestedText(6000)}}]}`],
    ['one level over the limit', `{"set":${nestedText(MAX_JSON_DEPTH)}}`],
  ] as const)('%s is a 400 JSON_TOO_DEEP and stores nothing', async ([, body], { app }) => {
    await createState(app, 'p', { entries: 1 })
    await append(app, 'p', { set: { kept: true } })
    const before = await observe(app, 'p')
    expectError(await post(app, 'p', body), 'JSON_TOO_DEEP')
    expect(await observe(app, 'p')).toEqual(before)
  })

  test('a deep PUT /v1/state, a deep first body and a deep plain JSON message are 400 JSON_TOO_DEEP', async ({ app }) => {
    await createState(app, 'p')
    expectError(await app.inject({ method: 'PUT', url: '/v1/state/p', payload: nestedText(6000) }), 'JSON_TOO_DEEP')
    expectError(
      await app.inject({ method: 'PUT', url: '/v1/stream/q', headers: { 'content-type': 'application/json', 'stream-kind': 'state' }, payload: `{"set":${nestedText(6000)}}` }),
      'JSON_TOO_DEEP',
    )
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/q' })).statusCode).toBe(404)
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
    expectError(await post(app, 'plain', `[${nestedText(6000)}]`), 'JSON_TOO_DEEP')
    expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).body).toBe('[]')
  })

  test('a patch that would nest the state deeper than the limit is refused, though its body is within it', async ({ app }) => {
    await createState(app, 'p')
    // 200 levels, twice: each body is within the limit, the second would make a 400-level state.
    const value = JSON.parse(nestedText(200)) as Json
    await append(app, 'p', { set: value })
    const path = '/a'.repeat(199)
    const before = await observe(app, 'p')
    const res = await post(app, 'p', { patch: [{ op: 'replace', path, value }] })
    expectError(res, 'JSON_TOO_DEEP')
    expect(await observe(app, 'p')).toEqual(before)
    // A copy of the state into itself, deeper, likewise.
    expectError(await post(app, 'p', { patch: [{ op: 'copy', from: '/a', path: `${path}/b` }] }), 'JSON_TOO_DEEP')
    expect(await observe(app, 'p')).toEqual(before)
  })
})

describe('what JSON.parse reads one way and JSON.stringify writes another', () => {
  test.for([
    ['a batch of one merge of 1e400', '[{"merge":{"b":1e400}}]'],
    ['a single merge of -1e400', '{"merge":{"b":-1e400}}'],
    ['a set of 1e999 in an array', '{"set":[1,2,1e999]}'],
    ['a patch value of 1e400', '{"patch":[{"op":"add","path":"/x","value":1e400}]}'],
  ] as const)('%s is a 400 INVALID_JSON and stores nothing (it would be stored as null, another value)', async ([, body], { app }) => {
    await createState(app, 'p', { entries: 1 })
    await append(app, 'p', { set: { a: 1, b: 1 } })
    const before = await observe(app, 'p')
    expectError(await post(app, 'p', body), 'INVALID_JSON')
    expect(await observe(app, 'p')).toEqual(before)
  })

  test('a PUT /v1/state, a first body and a plain JSON message beyond a double are 400 INVALID_JSON', async ({ app }) => {
    await createState(app, 'p')
    expectError(await app.inject({ method: 'PUT', url: '/v1/state/p', payload: '{"a":1e400}' }), 'INVALID_JSON')
    expectError(
      await app.inject({ method: 'PUT', url: '/v1/stream/q', headers: { 'content-type': 'application/json', 'stream-kind': 'state' }, payload: '{"merge":{"b":1e400}}' }),
      'INVALID_JSON',
    )
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/q' })).statusCode).toBe(404)
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
    expectError(await post(app, 'plain', '[1,1e400]'), 'INVALID_JSON')
    expectError(await post(app, 'plain', '1e400'), 'INVALID_JSON')
    expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).body).toBe('[]')
  })

  test('a key repeated in a batch is stored as JSON.stringify writes it, so the log replays to the state served', async ({ app }) => {
    await createState(app, 'p', { entries: 100 })
    expect((await post(app, 'p', '[{"set":{"a":1,"a":2}},{"merge":{"b":{"c":1,"c":3}}}]')).statusCode).toBe(204)
    // What the log holds has each key once, with the value JSON.parse kept: no parser can read another.
    const log = (await app.inject({ url: '/v1/stream/p?offset=-1' })).body
    expect(log).toBe('[{"set":{"a":2},"ts":1700000000000},{"merge":{"b":{"c":3}},"ts":1700000000000}]')
    const head = (await app.inject({ url: '/v1/state/p' })).json<{ state: Json }>().state
    expect(head).toEqual({ a: 2, b: { c: 3 } })
    expect((await app.inject({ url: '/v1/state/p?seq=2' })).json<{ state: Json }>().state).toEqual(head)
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
    expect((await post(app, 'plain', '[{"a":1,"a":2},{"b":1}]')).statusCode).toBe(204)
    expect((await app.inject({ url: '/v1/stream/plain?offset=-1' })).body).toBe('[{"a":2},{"b":1}]')
  })
})

describe('at the limit', () => {
  test('the deepest accepted values are stored, snapshotted, read back and appended to', async ({ app }) => {
    await createState(app, 'p', { entries: 2 })
    // [ {"set": V} ] nests two levels around V.
    const deepest = JSON.parse(nestedText(MAX_JSON_DEPTH - 2)) as Json
    await append(app, 'p', [{ set: deepest }])
    // {"merge": …} nests one level around its patch.
    await append(app, 'p', { merge: JSON.parse(nestedText(MAX_JSON_DEPTH - 2, '{"b":2}')) as Json })
    // The state now nests MAX_JSON_DEPTH - 1 objects; a patch may fill it to exactly the limit.
    const innermost = '/a'.repeat(MAX_JSON_DEPTH - 2)
    await append(app, 'p', { patch: [{ op: 'add', path: `${innermost}/c`, value: [1] }] })
    expectError(await post(app, 'p', { patch: [{ op: 'add', path: `${innermost}/c/-`, value: [] }] }), 'JSON_TOO_DEEP')
    for (const url of ['/v1/state/p', '/v1/state/p?seq=1', '/v1/window/p?at=now', '/v1/window/p?seq=1', '/v1/windows/p', '/v1/stream/p?offset=-1']) {
      const res = await app.inject({ url })
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBe(200)
    }
    const state = (await app.inject({ url: '/v1/state/p' })).json<{ seq: number; state: Json }>()
    expect(state.seq).toBe(3)
    // PUT /v1/state of a state at the limit is stored (as a set or a patch, whichever is smaller).
    const put = await app.inject({ method: 'PUT', url: '/v1/state/p', payload: nestedText(MAX_JSON_DEPTH, '"top"') })
    expect(put.statusCode, put.body).toBe(200)
    expect((await app.inject({ url: '/v1/state/p' })).body).toContain('"top"')
  })
})

// Older servers were SQLite servers: the PostgreSQL engine has no such data to serve.
describe.skipIf(inject('engine') === 'postgres')('a value stored before the limit existed', () => {
  // Far deeper than any call stack (JSON.stringify gives up a few thousand levels down).
  const ABYSS = 100_000

  /** A state stream whose head entry and snapshot hold a value `ABYSS` levels deep, as older servers stored them. */
  async function olderStream(file: string, makeApp: (options: { file: string; checkpointMs: number }) => Promise<import('fastify').FastifyInstance>) {
    const first = await makeApp({ file, checkpointMs: 0 })
    await createState(first, 'old', { entries: 3 })
    await append(first, 'old', { set: { before: true } })
    await first.close()
    const db = new Database(file)
    const { id, head_ts: ts } = db.prepare<[], { id: number; head_ts: number }>("SELECT id, head_ts FROM streams WHERE name = 'old'").get() as {
      id: number
      head_ts: number
    }
    const deep = `{"set":${nestedText(ABYSS)}}`
    db.prepare('INSERT INTO entries (stream_id, seq, ts, gpos, data) VALUES (?, 2, ?, 2, ?)').run(id, ts, deep)
    db.prepare('INSERT INTO entries (stream_id, seq, ts, gpos, data) VALUES (?, 3, ?, 3, ?)').run(id, ts, `{"merge":${nestedText(ABYSS, '{"m":1}')}}`)
    db.prepare('INSERT INTO snapshots (stream_id, seq, ts, cum_bytes, state) VALUES (?, 3, ?, ?, ?)').run(id, ts, 2 * deep.length, nestedText(ABYSS, '{"m":1}'))
    db.prepare('UPDATE streams SET head_seq = 3, total_bytes = ? WHERE id = ?').run(2 * deep.length, id)
    db.prepare("UPDATE meta SET value = 3 WHERE key = 'gpos'").run()
    db.close()
    return makeApp({ file, checkpointMs: 0 })
  }

  test('every read route serves it', async ({ makeApp, tmp }) => {
    const app = await olderStream(join(tmp, 'old.db'), makeApp)
    for (const url of ['/v1/state/old', '/v1/state/old?seq=2', '/v1/state/old?seq=3', '/v1/window/old?seq=2', '/v1/window/old?at=now', '/v1/windows/old', '/v1/stream/old?offset=-1']) {
      const res = await app.inject({ url })
      expect(res.statusCode, `${url}: ${res.body.slice(0, 200)}`).toBe(200)
    }
    const state = (await app.inject({ url: '/v1/state/old?seq=3' })).body
    expect(state).toContain('{"m":1}')
    expect(state.length).toBeGreaterThan(5 * ABYSS)
  })

  test('it is appended to (snapshots included), and replaced by PUT /v1/state', async ({ makeApp, tmp }) => {
    const app = await olderStream(join(tmp, 'old.db'), makeApp)
    // Three more entries: the policy (3 entries) takes a snapshot of a state far deeper than JSON.stringify goes.
    await append(app, 'old', { merge: { top: 1 } })
    await append(app, 'old', { patch: [{ op: 'add', path: '/next', value: [1] }] })
    await append(app, 'old', { merge: { a: { a: { extra: true } } } })
    const res = await app.inject({ url: '/v1/state/old' })
    expect(res.statusCode).toBe(200)
    expect(res.json<{ seq: number }>().seq).toBe(6)
    expect((await app.inject({ url: '/v1/window/old?at=now' })).statusCode).toBe(200)
    // A fresh process rebuilds the head from that snapshot.
    await app.close()
    const again = await makeApp({ file: join(tmp, 'old.db'), checkpointMs: 0 })
    expect((await again.inject({ url: '/v1/state/old' })).json<{ seq: number }>().seq).toBe(6)
    const put = await again.inject({ method: 'PUT', url: '/v1/state/old', payload: '{"fresh":true}' })
    expect(put.statusCode, put.body).toBe(200)
    expect((await again.inject({ url: '/v1/state/old' })).json()).toMatchObject({ seq: 7, state: { fresh: true } })
  })
})
