/**
 * CORS: a browser on another origin may call every route (preflights answered, the protocol's
 * headers allowed and exposed), any origin by default, only the listed ones when configured, none
 * when turned off; and a preflight needs no token even with access control on.
 */
import { describe, expect } from 'vitest'
import { test } from './support.ts'

const preflight = (origin: string, method = 'POST', headers = 'content-type,producer-id,producer-epoch,producer-seq') => ({
  method: 'OPTIONS' as const,
  url: '/v1/stream/some/stream',
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': headers },
})

describe('CORS', () => {
  test('by default any origin may call: preflights allow the protocol’s request headers, answers expose its response headers', async ({ app }) => {
    const res = await app.inject(preflight('https://app.example.com'))
    expect(res.statusCode).toBe(204)
    expect(res.headers['access-control-allow-origin']).toBe('*')
    expect(String(res.headers['access-control-allow-methods']).split(/, */)).toEqual(expect.arrayContaining(['GET', 'HEAD', 'POST', 'PUT', 'DELETE']))
    const allowed = String(res.headers['access-control-allow-headers']).split(/, */)
    for (const header of ['if-none-match', 'last-event-id', 'authorization', 'producer-id', 'producer-epoch', 'producer-seq', 'stream-closed', 'stream-forked-from']) {
      expect(allowed).toContain(header)
    }
    const put = await app.inject({ method: 'PUT', url: '/v1/stream/c', headers: { origin: 'https://app.example.com', 'content-type': 'text/plain' } })
    expect(put.headers['access-control-allow-origin']).toBe('*')
    const exposed = String(put.headers['access-control-expose-headers']).split(/, */)
    for (const header of ['stream-next-offset', 'stream-up-to-date', 'stream-cursor', 'stream-closed', 'etag', 'producer-epoch', 'producer-seq']) {
      expect(exposed).toContain(header)
    }
    // Errors carry it too: a script must be able to read why it was refused.
    const missing = await app.inject({ url: '/v1/stream/none', headers: { origin: 'https://app.example.com' } })
    expect([missing.statusCode, missing.headers['access-control-allow-origin']]).toEqual([404, '*'])
  })

  test('with a list of origins, only those are allowed', async ({ makeApp }) => {
    const app = await makeApp({ corsOrigins: ['https://a.example'] })
    expect((await app.inject(preflight('https://a.example'))).headers['access-control-allow-origin']).toBe('https://a.example')
    const other = await app.inject(preflight('https://b.example'))
    expect(other.headers['access-control-allow-origin']).toBeUndefined()
  })

  test('turned off, no CORS header is sent and a preflight is no route', async ({ makeApp }) => {
    const app = await makeApp({ corsOrigins: false })
    const res = await app.inject(preflight('https://a.example'))
    expect(res.statusCode).toBe(404)
    expect(res.headers['access-control-allow-origin']).toBeUndefined()
  })

  test('with access control on, a preflight is answered without a token; the request itself still needs one', async ({ makeApp }) => {
    const app = await makeApp({ auth: { secret: 'a-secret-of-at-least-thirty-two-bytes!' } })
    const res = await app.inject(preflight('https://a.example', 'GET', 'authorization'))
    expect([res.statusCode, res.headers['access-control-allow-origin']]).toEqual([204, '*'])
    expect((await app.inject({ url: '/v1/stream/x', headers: { origin: 'https://a.example' } })).statusCode).toBe(401)
  })
})
