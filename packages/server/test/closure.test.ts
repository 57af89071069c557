/**
 * Stream closure (Durable Streams §4.1, §5.2, §5.3; design §2.1): a closed stream's content is
 * final. Appends are 409 with `Stream-Closed`; reads at its tail say it is the end; a closed state
 * stream's open window ends at its last entry and becomes immutable like any closed window.
 */
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import type { Clock, Response } from './support.ts'
import { append, createState, expectError, getJson, offset, post, stateAt, stateHeaders, test, windowAt } from './support.ts'

const T0 = 1_000_000

function close(app: FastifyInstance, name: string, body?: string, headers: Record<string, string> = {}): Promise<Response> {
  return app.inject({
    method: 'POST',
    url: `/v1/stream/${name}`,
    headers: { 'stream-closed': 'true', ...(body !== undefined && { 'content-type': 'application/json' }), ...headers },
    ...(body !== undefined && { payload: body }),
  })
}

/** A state stream with a snapshot every 3 entries and `entries` entries, entry n at T0 + 10n. */
async function stateStream(app: FastifyInstance, clock: Clock, entries: number): Promise<void> {
  clock.set(T0)
  await createState(app, 's', { entries: 3 })
  for (let n = 1; n <= entries; n++) {
    clock.set(T0 + 10 * n)
    await append(app, 's', { merge: { n } })
  }
}

describe('closing a state stream', () => {
  test('closes its open window at the last entry: immutable, cached, and every later point falls in it', async ({ app, clock }) => {
    await stateStream(app, clock, 5)
    const open = await app.inject({ url: '/v1/window/s?at=now' })
    expect(open.headers['cache-control']).toBe('no-store')
    clock.set(T0 + 100)
    const res = await close(app, 's')
    expect(res.statusCode).toBe(204)
    expect(res.headers['stream-closed']).toBe('true')
    expect(res.headers['stream-next-offset']).toBe(offset(5))
    const last = await app.inject({ url: '/v1/window/s?at=now' })
    expect(last.headers['cache-control']).toContain('immutable')
    const etag = last.headers.etag as string
    expect(etag).toMatch(/^"w/)
    expect(last.json()).toMatchObject({ start: { seq: 3, state: { n: 3 } }, end: { seq: 5, ts: T0 + 50 } })
    expect(last.json<{ entries: Array<{ seq: number }> }>().entries.map((e) => e.seq)).toEqual([4, 5])
    // At the last entry, after it, at any later time: that window.
    for (const query of ['seq=5', 'seq=4', `at=${T0 + 50}`, `at=${T0 + 10_000}`]) {
      const res = await app.inject({ url: `/v1/window/s?${query}` })
      expect(res.headers.etag, query).toBe(etag)
    }
    expect((await app.inject({ url: '/v1/window/s?at=now', headers: { 'if-none-match': etag } })).statusCode).toBe(304)
    const listed = await getJson<{ windows: Array<{ start: { seq: number }; end: { seq: number } | null }> }>(app, '/v1/windows/s')
    expect(listed.windows.map((w) => [w.start.seq, w.end?.seq ?? null])).toEqual([
      [0, 3],
      [3, 5],
    ])
    expect(await stateAt(app, 's', 'at=now')).toMatchObject({ seq: 5, state: { n: 5 } })
    expect(await stateAt(app, 's', `at=${T0 + 10_000}`)).toMatchObject({ seq: 5, state: { n: 5 } })
  })

  test('refuses appends and state writes with 409 STREAM_CLOSED, Stream-Closed and the final offset', async ({ app, clock }) => {
    await stateStream(app, clock, 2)
    expect((await close(app, 's')).statusCode).toBe(204)
    for (const res of [
      await post(app, 's', { merge: { late: true } }),
      await app.inject({ method: 'PUT', url: '/v1/state/s', payload: { late: true } }),
      await close(app, 's', '{"merge":{"late":true}}'),
    ]) {
      expectError(res, 'STREAM_CLOSED')
      expect(res.headers['stream-closed']).toBe('true')
      expect(res.headers['stream-next-offset']).toBe(offset(2))
    }
    // Closing again without a body is a success that changes nothing.
    const again = await close(app, 's')
    expect([again.statusCode, again.headers['stream-closed']]).toEqual([204, 'true'])
    expect(await stateAt(app, 's', 'at=now')).toMatchObject({ seq: 2, state: { n: 2 } })
  })

  test('with a final append: the entries and the closure are one step; a window the policy just closed needs no other', async ({ app, clock }) => {
    await stateStream(app, clock, 2)
    clock.set(T0 + 30)
    // Entry 3 makes the policy's snapshot at 3: the closure adds none.
    const res = await close(app, 's', '{"merge":{"n":3,"last":true}}')
    expect([res.statusCode, res.headers['stream-closed'], res.headers['stream-next-offset']]).toEqual([204, 'true', offset(3)])
    const listed = await getJson<{ windows: Array<{ start: { seq: number }; end: { seq: number } | null }> }>(app, '/v1/windows/s')
    expect(listed.windows.map((w) => [w.start.seq, w.end?.seq ?? null])).toEqual([[0, 3]])
    expect(await windowAt(app, 's', 'at=now')).toMatchObject({ start: { seq: 0 }, end: { seq: 3 } })
  })

  test('a closed stream without entries has one window, from its creation to its creation', async ({ app, clock }) => {
    clock.set(T0)
    const res = await app.inject({ method: 'PUT', url: '/v1/stream/empty', headers: { ...stateHeaders(), 'stream-closed': 'true' } })
    expect([res.statusCode, res.headers['stream-closed']]).toEqual([201, 'true'])
    const window = await app.inject({ url: '/v1/window/empty?at=now' })
    expect(window.json()).toMatchObject({ start: { seq: 0, ts: T0, state: {} }, entries: [], end: { seq: 0, ts: T0 } })
    expect(window.headers['cache-control']).toContain('immutable')
    const listed = await getJson<{ windows: unknown[] }>(app, '/v1/windows/empty')
    expect(listed.windows).toEqual([{ start: { seq: 0, ts: T0 }, end: { seq: 0, ts: T0 }, entries: 0, bytes: 0 }])
  })
})

describe('PUT and closure', () => {
  test('a PUT matches an existing stream only with its closure: open and open, closed and closed', async ({ app }) => {
    const put = (closed: boolean) =>
      app.inject({ method: 'PUT', url: '/v1/stream/p', headers: { 'content-type': 'text/plain', ...(closed && { 'stream-closed': 'true' }) } })
    expect((await put(false)).statusCode).toBe(201)
    expectError(await put(true), 'STREAM_CONFLICT')
    expect((await put(false)).statusCode).toBe(200)
    expect((await close(app, 'p')).statusCode).toBe(204)
    expectError(await put(false), 'STREAM_CONFLICT')
    const same = await put(true)
    expect([same.statusCode, same.headers['stream-closed']]).toEqual([200, 'true'])
  })

  test('Stream-Closed is honoured only as "true" (any case); other values are no closure', async ({ app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/q', headers: { 'content-type': 'text/plain' } })
    for (const value of ['false', 'yes', '1', '']) {
      const res = await app.inject({ method: 'POST', url: '/v1/stream/q', headers: { 'content-type': 'text/plain', 'stream-closed': value }, payload: 'x' })
      expect([res.statusCode, res.headers['stream-closed']], value).toEqual([204, undefined])
    }
    const res = await app.inject({ method: 'POST', url: '/v1/stream/q', headers: { 'stream-closed': 'TRUE' } })
    expect([res.statusCode, res.headers['stream-closed']]).toEqual([204, 'true'])
  })
})

describe('reading a closed stream', () => {
  test('catch-up says Stream-Closed only with the final chunk, and the ETag of the tail changes on closure', async ({ app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/r', headers: { 'content-type': 'text/plain' }, payload: 'ab' })
    const before = await app.inject({ url: '/v1/stream/r?offset=-1' })
    expect(before.headers['stream-closed']).toBeUndefined()
    await close(app, 'r')
    const after = await app.inject({ url: '/v1/stream/r?offset=-1', headers: { 'if-none-match': before.headers.etag as string } })
    // The same bytes, but no longer the same answer: a 304 would hide the end.
    expect([after.statusCode, after.body, after.headers['stream-closed']]).toEqual([200, 'ab', 'true'])
    expect(after.headers.etag).not.toBe(before.headers.etag)
    const eof = await app.inject({ url: `/v1/stream/r?offset=${offset(1)}` })
    expect([eof.statusCode, eof.body, eof.headers['stream-closed'], eof.headers['stream-up-to-date']]).toEqual([200, '', 'true', 'true'])
    const now = await app.inject({ url: '/v1/stream/r?offset=now' })
    expect([now.headers['stream-closed'], now.headers['stream-next-offset']]).toEqual(['true', offset(1)])
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/r' })).headers['stream-closed']).toBe('true')
  })
})
