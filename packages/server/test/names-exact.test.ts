/**
 * Names are exact, and error messages never echo a large input: an encoded `/` in a path is
 * refused rather than decoded into a separator, and every message quotes at most a short prefix of
 * what the request sent.
 */
import { QUOTE_MAX_CHARS } from '@statestream/common'
import { describe, expect } from 'vitest'
import { append, createState, expectError, observe, stateHeaders, test } from './support.ts'

describe('an encoded "/" is not a separator', () => {
  test.for([
    ['GET', '/v1/state/a%2Fb'],
    ['GET', '/v1/state/a%2fb'],
    ['GET', '/v1/window/a%2Fb?at=now'],
    ['GET', '/v1/windows/a%2Fb'],
    ['GET', '/v1/stream/a%2Fb?offset=-1'],
    ['HEAD', '/v1/stream/a%2Fb'],
    ['POST', '/v1/stream/a%2Fb'],
    ['DELETE', '/v1/stream/a%2Fb'],
    ['PUT', '/v1/state/a%2Fb'],
    ['GET', '/v1/live/a%2Fb'],
  ] as const)('%s %s is a 400 INVALID_STREAM_NAME, though stream "a/b" exists', async ([method, url], { app }) => {
    await createState(app, 'a/b')
    await append(app, 'a/b', { set: { kept: 1 } })
    const before = await observe(app, 'a/b')
    const res = await app.inject({
      method,
      url,
      headers: { 'content-type': 'application/json' },
      ...((method === 'POST' || method === 'PUT') && { payload: '{"set":{"x":2}}' }),
    })
    expect(res.statusCode).toBe(400)
    if (method !== 'HEAD') expectError(res, 'INVALID_STREAM_NAME')
    expect(await observe(app, 'a/b')).toEqual(before)
  })

  test('PUT of a name with an encoded "/" creates nothing', async ({ app }) => {
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/x%2Fy', headers: stateHeaders() }), 'INVALID_STREAM_NAME')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/x/y' })).statusCode).toBe(404)
  })

  test('an escaped unreserved character is the same URL (%41 is A), and a query may name a/b', async ({ app }) => {
    await createState(app, 'A/b')
    await append(app, 'A/b', { set: { v: 1 } })
    expect((await app.inject({ url: '/v1/state/%41/b' })).json()).toMatchObject({ state: { v: 1 } })
    // In the query of the multiplexed live route a name is a value, not a path: %2F is its "/".
    const res = await app.inject({ url: '/v1/live?stream=A%2Fc' })
    expectError(res, 'STREAM_NOT_FOUND')
    expect(res.json<{ error: { message: string } }>().error.message).toContain('A/c')
  })
})

describe('error messages quote at most a short prefix of the input', () => {
  const huge = '9'.repeat(10_000)
  test.for([
    ['a 10,000-digit offset', 'GET', `/v1/stream/s?offset=${huge}`, {}],
    ['a 10,000-digit at', 'GET', `/v1/state/s?at=${huge}`, {}],
    ['a 10,000-digit seq', 'GET', `/v1/window/s?seq=${huge}`, {}],
    ['a 10,000-digit after', 'GET', `/v1/live/s?after=${huge}`, {}],
    ['a 10,000-character Last-Event-ID', 'GET', '/v1/live/s', { 'last-event-id': `x${huge}` }],
    ['a 10,000-character resume point', 'GET', `/v1/live?stream=s@${huge}x`, {}],
    ['a 10,000-character Stream-TTL', 'PUT', '/v1/stream/t', { 'content-type': 'text/plain', 'stream-ttl': huge }],
    ['a 10,000-character Stream-Expires-At', 'PUT', '/v1/stream/t', { 'content-type': 'text/plain', 'stream-expires-at': huge }],
    ['a 10,000-character unknown path', 'GET', `/v2/${huge}`, {}],
    ['a 10,000-character Content-Type', 'POST', '/v1/stream/s', { 'content-type': `application/${huge}` }],
    ['a 10,000-character Producer-Epoch', 'POST', '/v1/stream/s', { 'content-type': 'application/json', 'producer-id': 'p', 'producer-epoch': huge, 'producer-seq': '0' }],
  ] as const)('%s', async ([, method, url, headers], { app }) => {
    await createState(app, 's')
    const res = await app.inject({ method, url, headers, ...(method === 'POST' && { payload: '{"merge":{}}' }) })
    expect(res.statusCode).toBeGreaterThanOrEqual(400)
    expect(res.statusCode).toBeLessThan(500)
    const message = res.json<{ error: { message: string } }>().error.message
    expect(message.length, message).toBeLessThan(QUOTE_MAX_CHARS + 200)
  })

  test('a body that is not JSON, or a patch with a huge path, gets a short message', async ({ app }) => {
    await createState(app, 's')
    for (const payload of [`{"merge":${'x'.repeat(100_000)}}`, JSON.stringify({ patch: [{ op: 'remove', path: `/${'p'.repeat(100_000)}` }] })]) {
      const res = await app.inject({ method: 'POST', url: '/v1/stream/s', headers: { 'content-type': 'application/json' }, payload })
      expect(res.statusCode).toBeGreaterThanOrEqual(400)
      expect(res.json<{ error: { message: string } }>().error.message.length).toBeLessThan(400)
    }
  })
})
