/**
 * Access control, route by grant (design §2.5): with `auth` on, every route needs a bearer token
 * granting what it does — read, write or admin on the streams it names — and answers
 * `401 UNAUTHORIZED` without a valid token, `403 FORBIDDEN` without the grant. `/health` stays
 * open. Run over a real listener, so the live routes (SSE, long-poll) are checked as they answer.
 */
import { ERROR_STATUS } from '@statestream/common'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test } from './support/live-server.ts'
import { HS_AUTH, SECRET, bearer, hsToken } from './support/tokens.ts'

type Method = 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'

/** One route as a request, and which of the grants below may make it. */
interface Row {
  name: string
  method: Method
  path: string
  headers?: Record<string, string>
  body?: string
  allowed: readonly Grant[]
}

/** The grants each token of the table carries. */
const GRANTS = {
  readW: 'read:w/',
  readWa: 'read:w/a',
  readWax: 'read:w/ax',
  writeW: 'write:w/',
  readWriteAll: 'read:* write:*',
  admin: 'admin',
  other: 'openid profile',
} as const
type Grant = keyof typeof GRANTS

const READ_A: readonly Grant[] = ['readW', 'readWa', 'readWriteAll', 'admin']
const WRITE_A: readonly Grant[] = ['writeW', 'readWriteAll', 'admin']
const ADMIN: readonly Grant[] = ['admin']
const json = { 'content-type': 'application/json' }

const ROWS: readonly Row[] = [
  { name: 'catch-up read', method: 'GET', path: '/v1/stream/w/a?offset=-1', allowed: READ_A },
  { name: 'HEAD', method: 'HEAD', path: '/v1/stream/w/a', allowed: READ_A },
  { name: 'long-poll', method: 'GET', path: '/v1/stream/w/a?offset=-1&live=long-poll', allowed: READ_A },
  { name: 'Durable Streams SSE', method: 'GET', path: '/v1/stream/w/a?offset=-1&live=sse', allowed: READ_A },
  { name: 'window', method: 'GET', path: '/v1/window/w/a?at=now', allowed: READ_A },
  { name: 'windows', method: 'GET', path: '/v1/windows/w/a', allowed: READ_A },
  { name: 'state', method: 'GET', path: '/v1/state/w/a', allowed: READ_A },
  { name: 'state at a seq', method: 'GET', path: '/v1/state/w/a?seq=1', allowed: READ_A },
  { name: 'live', method: 'GET', path: '/v1/live/w/a', allowed: READ_A },
  { name: 'multiplexed live of w/a', method: 'GET', path: '/v1/live?stream=w/a', allowed: READ_A },
  // Read on every stream it names: read:w/a is not enough for w/a and w/b.
  { name: 'multiplexed live of w/a and w/b', method: 'GET', path: '/v1/live?stream=w/a&stream=w/b@1', allowed: ['readW', 'readWriteAll', 'admin'] },
  { name: 'append', method: 'POST', path: '/v1/stream/w/a', headers: json, body: '{"merge":{"n":1}}', allowed: WRITE_A },
  { name: 'PUT state', method: 'PUT', path: '/v1/state/w/a', headers: json, body: '{"whole":true}', allowed: WRITE_A },
  { name: 'close', method: 'POST', path: '/v1/stream/w/a', headers: { ...json, 'stream-closed': 'true' }, allowed: ADMIN },
  { name: 'create', method: 'PUT', path: '/v1/stream/w/new', headers: { ...json, 'stream-kind': 'state' }, allowed: ADMIN },
  { name: 'fork', method: 'PUT', path: '/v1/stream/w/fork', headers: { ...json, 'stream-kind': 'state', 'stream-forked-from': '/v1/stream/w/a' }, allowed: ADMIN },
  { name: 'delete', method: 'DELETE', path: '/v1/stream/w/b', allowed: ADMIN },
]

/** Sends `row` with `headers`; the status, and the body's error code when refused. */
async function send(url: string, row: Row, headers: Record<string, string>): Promise<{ status: number; code: string | undefined }> {
  const response = await request(`${url}${row.path}`, {
    method: row.method,
    headers: { ...row.headers, ...headers },
    ...(row.body !== undefined && { body: row.body }),
  })
  if (response.statusCode < 400 || row.method === 'HEAD') {
    // A live answer streams on: its status is all the table needs.
    response.body.on('error', () => {})
    response.body.destroy()
    return { status: response.statusCode, code: undefined }
  }
  const body = (await response.body.json()) as { error?: { code?: string } }
  return { status: response.statusCode, code: body.error?.code }
}

async function setUp(url: string, admin: string): Promise<void> {
  for (const name of ['w/a', 'w/b']) {
    const res = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers: { ...json, 'stream-kind': 'state', ...bearer(admin) }, body: '{"set":{"v":1}}' })
    await res.body.dump()
    expect(res.statusCode).toBe(201)
  }
}

describe('route × grant', () => {
  test.for(ROWS.map((row) => [row.name, row] as const))('%s', async ([, row], { serve }) => {
    const { url } = await serve({ auth: HS_AUTH, heartbeatMs: 60_000 })
    await setUp(url, await hsToken({ scope: 'admin' }))
    // Refusals first: none of them may change anything the allowed requests then see.
    for (const grant of Object.keys(GRANTS) as Grant[]) {
      if (row.allowed.includes(grant)) continue
      const { status, code } = await send(url, row, bearer(await hsToken({ scope: GRANTS[grant], expiresIn: 60 })))
      expect(status, `${grant} may not ${row.name}`).toBe(ERROR_STATUS.FORBIDDEN)
      if (row.method !== 'HEAD') expect(code).toBe('FORBIDDEN')
    }
    for (const headers of [{}, { authorization: 'Bearer not.a.jwt' }, { authorization: 'Basic dXNlcjpwYXNz' }]) {
      const { status, code } = await send(url, row, headers)
      expect(status, JSON.stringify(headers)).toBe(ERROR_STATUS.UNAUTHORIZED)
      if (row.method !== 'HEAD') expect(code).toBe('UNAUTHORIZED')
    }
    for (const grant of row.allowed) {
      const { status } = await send(url, row, bearer(await hsToken({ scope: GRANTS[grant], expiresIn: 60 })))
      expect([401, 403], `${grant} may ${row.name}`).not.toContain(status)
      expect(status).toBeLessThan(500)
    }
  })

  test('/health needs no token; an unknown route is still a 404', async ({ serve }) => {
    const { url } = await serve({ auth: HS_AUTH })
    const health = await request(`${url}/health`)
    await health.body.dump()
    expect(health.statusCode).toBe(200)
    const unknown = await request(`${url}/v2/nothing`)
    await unknown.body.dump()
    expect(unknown.statusCode).toBe(404)
  })
})

describe('tokens that are refused', () => {
  test.for([
    ['expired', () => hsToken({ scope: 'admin', expiresIn: -120 }), 'expired'],
    ['signed with another secret', () => hsToken({ scope: 'admin' }, `${SECRET}-other`), 'signature'],
    ['unsigned (alg none)', async () => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"scope":"admin"}').toString('base64url')}.`, 'algorithm'],
  ] as const)('a token %s is 401 UNAUTHORIZED with a challenge', async ([, make, words], { serve }) => {
    const { url } = await serve({ auth: HS_AUTH })
    const response = await request(`${url}/v1/state/w/a`, { headers: bearer(await make()) })
    const body = (await response.body.json()) as { error: { code: string; message: string } }
    expect(response.statusCode).toBe(401)
    expect(body.error.code).toBe('UNAUTHORIZED')
    expect(body.error.message).toContain(words)
    expect(String(response.headers['www-authenticate'])).toMatch(/^Bearer /)
  })

  test('an unauthenticated upload is refused before its body is read (401, not 413)', async ({ serve }) => {
    const { url } = await serve({ auth: HS_AUTH, bodyLimit: 1024 })
    const response = await request(`${url}/v1/stream/w/a`, { method: 'POST', headers: json, body: 'x'.repeat(64 * 1024) })
    await response.body.dump()
    expect(response.statusCode).toBe(401)
  })

  test('a 403 names the grant that is missing', async ({ serve }) => {
    const { url } = await serve({ auth: HS_AUTH })
    const response = await request(`${url}/v1/stream/w/a`, { method: 'DELETE', headers: bearer(await hsToken({ scope: 'read:* write:*' })) })
    const body = (await response.body.json()) as { error: { code: string; message: string } }
    expect(response.statusCode).toBe(403)
    expect(body.error.message).toContain('admin')
    expect(String(response.headers['www-authenticate'])).toContain('insufficient_scope')
  })
})
