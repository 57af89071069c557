/**
 * A server whose PostgreSQL database stops answering, reached through a TCP proxy that the test
 * stalls (every byte held back: a database that hangs, or a network that went silent) and then
 * closes (connections reset, new ones refused: a database that is down):
 * - `/ready` answers `503 NOT_READY` while the database is silent, and 200 once it answers again;
 * - reads and writes while it is down answer `503 STORE_UNAVAILABLE` in the error body (a write
 *   says it was not stored), and the change feed's failures reach the server's log;
 * - a statement on a connection gone silent is given up after `queryTimeoutMs` (`503
 *   STORE_UNAVAILABLE`) instead of waiting for TCP keep-alive, and once the database answers again
 *   so do the requests;
 * - a server closed while its database is silent closes (its connections given up), instead of
 *   waiting for the database;
 * - a write that waits `lockTimeoutMs` for the position lock (held by something stuck) gives up
 *   with `503 STORE_UNAVAILABLE`, nothing stored, while reads go on; once the lock is free, writes
 *   are stored again.
 */
import pg from 'pg'
import { buildApp } from '@statestream/server'
import type { AppOptions } from '@statestream/server'
import { expect } from 'vitest'
import { replicaTest as test } from './support/replicas.ts'
import { startTcpProxy } from './support/tcp-proxy.ts'
import type { TcpProxy } from './support/tcp-proxy.ts'

/** Far longer than any answer should take; an answer still missing then is a hang. */
const HANG_MS = 45_000

/** Resolves once `check` holds, polling every 20 ms; rejects after `ms`. */
async function until(check: () => Promise<boolean>, what: string, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms
  while (!(await check())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** `promise`, or a rejection saying `what` hangs after `ms` (`HANG_MS`). */
async function answered<T>(promise: Promise<T>, what: string, ms = HANG_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} got no answer in ${ms} ms`)), ms)
  })
  try {
    return await Promise.race([promise, hang])
  } finally {
    clearTimeout(timer)
  }
}

/** A server on `database` (a new schema) reached through a TCP proxy the test can stall or close. */
async function behindProxy(
  database: unknown,
  schema: string,
  options: { queryTimeoutMs?: number; log?: AppOptions['log'] } = {},
): Promise<{ app: Awaited<ReturnType<typeof buildApp>>; proxy: TcpProxy }> {
  const target = new URL((database as { url: string }).url)
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
  const proxied = new URL(target)
  proxied.port = new URL(proxy.url).port
  const { queryTimeoutMs, log } = options
  const app = await buildApp({
    postgres: { url: proxied.toString(), schema, ...(queryTimeoutMs !== undefined && { queryTimeoutMs }) },
    ...(log !== undefined && { log }),
  })
  return { app, proxy }
}

test('a database that hangs, then goes away: /ready answers 503, requests answer 503 STORE_UNAVAILABLE', { timeout: 180_000 }, async ({ database, newSchema }) => {
  const warnings: string[] = []
  const log = { warn: (_fields: Record<string, unknown>, message: string) => void warnings.push(message) }
  const { app, proxy } = await behindProxy(database, newSchema(), { log })
  try {
    const json = { 'content-type': 'application/json' }
    expect((await app.inject({ method: 'PUT', url: '/v1/stream/down/a', headers: { ...json, 'stream-kind': 'state' } })).statusCode).toBe(201)
    expect((await app.inject({ method: 'POST', url: '/v1/stream/down/a', headers: json, payload: '{"set":{"n":1}}' })).statusCode).toBe(204)
    expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200)

    // Silent: the probe answers instead of waiting for the database.
    proxy.stall()
    const silent = await answered(app.inject({ method: 'GET', url: '/ready' }), '/ready on a silent database')
    expect(silent.statusCode).toBe(503)
    expect(silent.json()).toMatchObject({ error: { code: 'NOT_READY' } })
    proxy.resume()
    await until(async () => (await app.inject({ method: 'GET', url: '/ready' })).statusCode === 200, '/ready answers 200 again')

    // Gone: every connection reset, new ones refused.
    await proxy.close()
    const read = await answered(app.inject({ method: 'GET', url: '/v1/state/down/a' }), 'a read')
    expect(read.statusCode).toBe(503)
    expect(read.headers['content-type']).toMatch(/^application\/json/)
    expect(read.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } })
    const write = await answered(app.inject({ method: 'POST', url: '/v1/stream/down/a', headers: json, payload: '{"set":{"n":2}}' }), 'a write')
    expect(write.statusCode).toBe(503)
    expect(write.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } })
    expect(write.json().error.message).toContain('not stored')
    expect(write.headers['retry-after']).toBe('1')
    const ready = await answered(app.inject({ method: 'GET', url: '/ready' }), '/ready on a database that is gone')
    expect(ready.statusCode).toBe(503)
    // The feed lost its listening connection and says so in the server's log.
    await until(async () => warnings.some((message) => message.startsWith('the change feed')), 'the feed reports its lost connection')
  } finally {
    await app.close()
    await proxy.close().catch(() => {})
  }
})

test('a read on a database gone silent answers 503 STORE_UNAVAILABLE after the query timeout, then reads again', { timeout: 180_000 }, async ({ database, newSchema }) => {
  const { app, proxy } = await behindProxy(database, newSchema(), { queryTimeoutMs: 1000 })
  try {
    const json = { 'content-type': 'application/json' }
    expect((await app.inject({ method: 'PUT', url: '/v1/stream/silent/a', headers: { ...json, 'stream-kind': 'state' } })).statusCode).toBe(201)
    expect((await app.inject({ method: 'POST', url: '/v1/stream/silent/a', headers: json, payload: '{"set":{"n":1}}' })).statusCode).toBe(204)

    // No reset ever comes: without the timeout, the read would wait for TCP keep-alive (minutes).
    proxy.stall()
    const read = await answered(app.inject({ method: 'GET', url: '/v1/state/silent/a' }), 'a read on a silent database')
    expect(read.statusCode).toBe(503)
    expect(read.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } })
    expect(read.headers['retry-after']).toBe('1')

    // The silent connection was discarded: once the database answers again, so do reads.
    proxy.resume()
    await until(async () => (await app.inject({ method: 'GET', url: '/v1/state/silent/a' })).statusCode === 200, 'reads answer 200 again')
    expect((await app.inject({ method: 'GET', url: '/v1/state/silent/a' })).json()).toMatchObject({ seq: 1, state: { n: 1 } })
  } finally {
    await app.close()
    await proxy.close().catch(() => {})
  }
})

test('a server closed while its database is silent closes', { timeout: 180_000 }, async ({ database, newSchema }) => {
  const { app, proxy } = await behindProxy(database, newSchema(), { queryTimeoutMs: 1000 })
  try {
    const json = { 'content-type': 'application/json' }
    expect((await app.inject({ method: 'PUT', url: '/v1/stream/closing/a', headers: { ...json, 'stream-kind': 'state' } })).statusCode).toBe(201)
    proxy.stall()
    // A read under way on the silent database, then the close.
    const read = app.inject({ method: 'GET', url: '/v1/state/closing/a' })
    await answered(app.close(), 'app.close() on a silent database')
    expect((await answered(read, 'the read under way')).statusCode).toBe(503)
  } finally {
    await proxy.close().catch(() => {})
  }
})

test('a write waiting for a position lock held elsewhere gives up after lockTimeoutMs; reads go on', { timeout: 180_000 }, async ({ database, newSchema }) => {
  const schema = newSchema()
  const url = (database as { url: string }).url
  const app = await buildApp({ postgres: { url, schema, lockTimeoutMs: 1000 } })
  const holder = new pg.Client({ connectionString: url })
  await holder.connect()
  try {
    const json = { 'content-type': 'application/json' }
    expect((await app.inject({ method: 'PUT', url: '/v1/stream/locked/a', headers: { ...json, 'stream-kind': 'state' } })).statusCode).toBe(201)
    // Something stuck holds the lock every write takes first.
    await holder.query('BEGIN')
    await holder.query(`SELECT gpos FROM ${schema}.position FOR UPDATE`)
    // Well under the default 30 s: without the option, the write would still be waiting.
    const write = await answered(app.inject({ method: 'POST', url: '/v1/stream/locked/a', headers: json, payload: '{"set":{"n":1}}' }), 'a write behind the lock', 20_000)
    expect(write.statusCode).toBe(503)
    expect(write.json()).toMatchObject({ error: { code: 'STORE_UNAVAILABLE' } })
    expect(write.json().error.message).toContain('not stored')
    const read = await answered(app.inject({ method: 'GET', url: '/v1/state/locked/a' }), 'a read while the lock is held', 20_000)
    expect(read.statusCode).toBe(200)
    expect(read.json()).toMatchObject({ seq: 0, state: {} })
    await holder.query('ROLLBACK')
    expect((await app.inject({ method: 'POST', url: '/v1/stream/locked/a', headers: json, payload: '{"set":{"n":2}}' })).statusCode).toBe(204)
    expect((await app.inject({ method: 'GET', url: '/v1/state/locked/a' })).json()).toMatchObject({ seq: 1, state: { n: 2 } })
  } finally {
    await holder.end().catch(() => {})
    await app.close()
  }
})
