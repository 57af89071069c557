/**
 * A `PUT` of an existing stream is idempotent only for the same configuration (Durable Streams
 * §5.1): content type, kind, expiry, closure, a state stream's snapshot policy, a fork's source
 * and point, a creation time given — anything else is 409.
 */
import { describe, expect } from 'vitest'
import { expectError, stateHeaders, test, windowAt } from './support.ts'

describe('PUT of an existing stream', () => {
  test('a state stream’s snapshot policy is part of its configuration: another one is 409, the same one 200', async ({ app }) => {
    const put = (policy: Parameters<typeof stateHeaders>[0]) => app.inject({ method: 'PUT', url: '/v1/stream/s', headers: stateHeaders(policy) })
    expect((await put({ entries: 10 })).statusCode).toBe(201)
    expect((await put({ entries: 10 })).statusCode).toBe(200)
    expectError(await put({ entries: 11 }), 'STREAM_CONFLICT')
    expectError(await put({ entries: 10, ms: 5 }), 'STREAM_CONFLICT')
    // A PUT that names no policy asks for the server's defaults, which this stream does not have.
    expectError(await put({}), 'STREAM_CONFLICT')
    const head = await app.inject({ method: 'HEAD', url: '/v1/stream/s' })
    expect(head.headers['stream-snapshot-entries']).toBe('10')
  })

  test('a policy on a stream that is not a state stream is a 400', async ({ app }) => {
    const res = await app.inject({ method: 'PUT', url: '/v1/stream/p', headers: { 'content-type': 'application/json', 'stream-snapshot-entries': '5' } })
    expectError(res, 'INVALID_PARAMETER')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/p' })).statusCode).toBe(404)
  })
})

describe('Stream-Created-At on an existing stream', () => {
  test('the creation time given is part of the configuration: another is 409, none matches', async ({ app, clock }) => {
    clock.set(5_000_000)
    const put = (at?: number) =>
      app.inject({ method: 'PUT', url: '/v1/stream/imported', headers: { ...stateHeaders(), ...(at !== undefined && { 'stream-created-at': String(at) }) } })
    expect((await put(4_000_000)).statusCode).toBe(201)
    expect((await put(4_000_000)).statusCode).toBe(200)
    expectError(await put(4_000_001), 'STREAM_CONFLICT')
    expect((await put()).statusCode).toBe(200)
    expect((await windowAt(app, 'imported', 'at=now')).start).toEqual({ seq: 0, ts: 4_000_000, state: {} })
  })
})
