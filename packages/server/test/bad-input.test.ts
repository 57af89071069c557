/**
 * Bad input: every malformed request gets a clear 4xx with a stable code in the wire error body,
 * never a 500, and nothing already stored changes.
 */
import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import { DEFAULT_BODY_LIMIT } from '@statestream/common'
import type { ErrorCode } from '@statestream/common'
import fc from 'fast-check'
import type { FastifyInstance, InjectOptions } from 'fastify'
import { describe, expect } from 'vitest'
import { append, createState, expectError, observe, offset, post, stateHeaders, test } from './support.ts'

/** Every route, for a stream name (as it appears in the URL path). */
function everyRoute(name: string): InjectOptions[] {
  const json = { 'content-type': 'application/json' }
  return [
    { method: 'PUT', url: `/v1/stream/${name}`, headers: stateHeaders() },
    { method: 'POST', url: `/v1/stream/${name}`, headers: json, payload: '{"merge":{}}' },
    { method: 'GET', url: `/v1/stream/${name}?offset=-1` },
    { method: 'DELETE', url: `/v1/stream/${name}` },
    { method: 'GET', url: `/v1/window/${name}?at=now` },
    { method: 'GET', url: `/v1/windows/${name}` },
    { method: 'GET', url: `/v1/state/${name}` },
    { method: 'PUT', url: `/v1/state/${name}`, headers: json, payload: '{"a":1}' },
  ]
}

/** A stream with some history whose every observable part must survive the bad requests. */
async function keeper(app: FastifyInstance): Promise<() => Promise<void>> {
  await createState(app, 'keep', { entries: 2 })
  await append(app, 'keep', [{ set: { a: 1 } }, { merge: { b: 2 } }, { merge: { c: 3 } }])
  const before = await observe(app, 'keep')
  return async () => expect(await observe(app, 'keep')).toEqual(before)
}

describe('invalid stream names', () => {
  test.for([
    ['an empty name', ''],
    ['an empty segment', 'a//b'],
    ['a trailing slash', 'a/'],
    ['a space', 'a%20b'],
    ['a colon', 'a:b'],
    ['a NUL byte', 'a%00b'],
    ['a non-ASCII character', 'caf%C3%A9'],
    ['an encoded ".." segment between slashes', 'a%2F..%2Fb'],
    ['513 bytes', 'x'.repeat(513)],
    ['far longer than any name', 'x'.repeat(5000)],
  ] as const)('%s is a 400 INVALID_STREAM_NAME on every route', async ([, name], { app }) => {
    const unchanged = await keeper(app)
    for (const options of everyRoute(name)) {
      const res = await app.inject(options)
      expectError(res, 'INVALID_STREAM_NAME')
    }
    expect((await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })).statusCode).toBe(400)
    await unchanged()
  })

  test('a name of exactly 512 bytes, with every allowed character, is accepted', async ({ app }) => {
    const name = `Az09._~-/${'n'.repeat(512 - 9)}`
    expect(name.length).toBe(512)
    await createState(app, name, {}, { set: { ok: true } })
    expect((await app.inject({ url: `/v1/state/${name}` })).json()).toMatchObject({ state: { ok: true } })
  })

  test('malformed percent-encoding is a 400 with the wire error body', async ({ app }) => {
    const unchanged = await keeper(app)
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/%zz', headers: stateHeaders() }), 'BAD_REQUEST')
    expectError(await app.inject({ url: '/v1/state/a%E0%A4%A' }), 'BAD_REQUEST')
    await unchanged()
  })

  // HTTP clients (and `inject`) resolve dot segments before sending; a raw request does not.
  test.for([
    ['a ".." segment', '/v1/stream/a/../keep', ['PUT', 'POST', 'GET', 'DELETE']],
    ['a leading "." segment', '/v1/stream/./keep', ['PUT', 'POST', 'GET', 'DELETE']],
    ['a bare ".."', '/v1/stream/..', ['PUT', 'POST', 'GET', 'DELETE']],
    ['a percent-encoded ".."', '/v1/stream/%2e%2e', ['PUT', 'POST', 'GET', 'DELETE']],
    ['a percent-encoded "." segment', '/v1/stream/keep/%2E', ['PUT', 'POST', 'GET', 'DELETE']],
    ['".." on the state route', '/v1/state/a/../keep', ['GET', 'PUT']],
    ['".." on the window route', '/v1/window/keep/..?at=now', ['GET']],
    ['".." on the windows route', '/v1/windows/../keep', ['GET']],
  ] as const)('a raw path with %s is a 400 INVALID_STREAM_NAME', async ([, path, methods], { app }) => {
    const unchanged = await keeper(app)
    await app.listen({ port: 0, host: '127.0.0.1' })
    const { port } = app.server.address() as AddressInfo
    for (const method of methods) {
      const { status, body } = await rawRequest(port, method, path)
      expect(status, `${method} ${path}: ${body}`).toBe(400)
      expect(JSON.parse(body)).toMatchObject({ error: { code: 'INVALID_STREAM_NAME' } })
    }
    await unchanged()
  })
})

/** One HTTP request with the path exactly as given (no dot-segment resolution). */
function rawRequest(port: number, method: string, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method, path, headers: { 'content-type': 'application/json', 'stream-kind': 'state' } },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.on('error', reject)
    req.end(method === 'POST' || method === 'PUT' ? '{"merge":{"x":1}}' : undefined)
  })
}

describe('invalid JSON', () => {
  test.for([
    ['a truncated object', '{"merge":'],
    ['a bare word', 'merge'],
    ['a trailing comma', '[{"merge":{}},]'],
    ['single quotes', "{'merge':{}}"],
    ['two values', '{"merge":{}} {"merge":{}}'],
  ] as const)('%s is a 400 INVALID_JSON on a state stream, a JSON stream and PUT /v1/state', async ([, payload], { app }) => {
    const unchanged = await keeper(app)
    await app.inject({ method: 'PUT', url: '/v1/stream/json', headers: { 'content-type': 'application/json' }, payload: '[1]' })
    expectError(await post(app, 'keep', payload), 'INVALID_JSON')
    expectError(await post(app, 'json', payload), 'INVALID_JSON')
    expectError(await app.inject({ method: 'PUT', url: '/v1/state/keep', payload }), 'INVALID_JSON')
    expect((await app.inject({ url: '/v1/stream/json' })).json()).toEqual([1])
    await unchanged()
  })

  test('an invalid first body on PUT creates no stream', async ({ app }) => {
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/s', headers: stateHeaders(), payload: '{"set":' }), 'INVALID_JSON')
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/s', headers: stateHeaders(), payload: '{"nope":1}' }), 'INVALID_MUTATION')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/s' })).statusCode).toBe(404)
  })
})

describe('bodies over the limit', () => {
  test('a configured limit answers 413 PAYLOAD_TOO_LARGE on every route that takes a body', async ({ makeApp }) => {
    const app = await makeApp({ bodyLimit: 1024 })
    const unchanged = await keeper(app)
    await app.inject({ method: 'PUT', url: '/v1/stream/text', headers: { 'content-type': 'text/plain' }, payload: 'kept' })
    const big = JSON.stringify({ merge: { pad: 'x'.repeat(1100) } })
    expectError(await post(app, 'keep', big), 'PAYLOAD_TOO_LARGE')
    expectError(await app.inject({ method: 'PUT', url: '/v1/state/keep', payload: JSON.stringify({ pad: 'x'.repeat(1100) }) }), 'PAYLOAD_TOO_LARGE')
    expectError(
      await app.inject({ method: 'POST', url: '/v1/stream/text', headers: { 'content-type': 'text/plain' }, payload: 'y'.repeat(1025) }),
      'PAYLOAD_TOO_LARGE',
    )
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/new', headers: stateHeaders(), payload: big }), 'PAYLOAD_TOO_LARGE')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/new' })).statusCode).toBe(404)
    expect((await app.inject({ url: '/v1/stream/text' })).body).toBe('kept')
    await unchanged()
    // A body of exactly the limit is accepted.
    const res = await app.inject({ method: 'POST', url: '/v1/stream/text', headers: { 'content-type': 'text/plain' }, payload: 'z'.repeat(1024) })
    expect(res.statusCode).toBe(204)
  })

  test('the default limit is 10 MiB (the reference server’s): 10 MiB is accepted, 10 MiB + 1 is not', async ({ app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/bin', headers: { 'content-type': 'application/octet-stream' } })
    const ok = await app.inject({
      method: 'POST',
      url: '/v1/stream/bin',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(DEFAULT_BODY_LIMIT, 7),
    })
    expect(DEFAULT_BODY_LIMIT).toBe(10 * 1024 * 1024)
    expect(ok.statusCode).toBe(204)
    const tooBig = await app.inject({
      method: 'POST',
      url: '/v1/stream/bin',
      headers: { 'content-type': 'application/octet-stream' },
      payload: Buffer.alloc(DEFAULT_BODY_LIMIT + 1, 7),
    })
    expectError(tooBig, 'PAYLOAD_TOO_LARGE')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/bin' })).headers['stream-next-offset']).toBe(offset(1))
  })
})

describe('offsets', () => {
  test.for([
    ['a word', 'abc'],
    ['-2', '-2'],
    ['a short number', '12'],
    ['17 digits', '0'.repeat(16) + '1'],
    ['a letter inside', '000000000000000a'],
    ['empty', ''],
    ['a trailing space', `${offset(1)}%20`],
    ['a sign', `+${'0'.repeat(15)}`],
    ['NOW in capitals', 'NOW'],
  ] as const)('a malformed offset (%s) is a 400 INVALID_OFFSET', async ([, value], { app }) => {
    const unchanged = await keeper(app)
    expectError(await app.inject({ url: `/v1/stream/keep?offset=${value}` }), 'INVALID_OFFSET')
    await unchanged()
  })

  test.for([
    ['one past the head', offset(4)],
    ['far past the head', '9999999999999999'],
  ] as const)('an offset %s is a 400 INVALID_OFFSET', async ([, value], { app }) => {
    await keeper(app)
    expectError(await app.inject({ url: `/v1/stream/keep?offset=${value}` }), 'INVALID_OFFSET')
  })

  test('offset given twice, or an unknown live mode, is a 400 INVALID_PARAMETER', async ({ app }) => {
    await keeper(app)
    expectError(await app.inject({ url: `/v1/stream/keep?offset=-1&offset=${offset(1)}` }), 'INVALID_PARAMETER')
    expectError(await app.inject({ url: '/v1/stream/keep?offset=-1&live=forever' }), 'INVALID_PARAMETER')
  })
})

describe('unknown streams', () => {
  test('every route answers 404 STREAM_NOT_FOUND and creates nothing', async ({ app }) => {
    const unchanged = await keeper(app)
    for (const options of everyRoute('ghost').slice(1)) expectError(await app.inject(options), 'STREAM_NOT_FOUND')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/ghost' })).statusCode).toBe(404)
    expect((await app.inject({ url: '/v1/stream/ghost' })).statusCode).toBe(404)
    await unchanged()
  })

  test('an unknown route is a 404 NOT_FOUND in the wire format', async ({ app }) => {
    expectError(await app.inject({ url: '/v2/stream/x' }), 'NOT_FOUND')
    expectError(await app.inject({ method: 'PATCH', url: '/v1/stream/keep' }), 'NOT_FOUND')
    // With a body its content type would have refused: still the route that is wrong.
    const json = { 'content-type': 'application/json' }
    expectError(await app.inject({ method: 'PUT', url: '/nothing', headers: json }), 'NOT_FOUND')
    expectError(await app.inject({ method: 'POST', url: '/nothing', headers: json, payload: '{' }), 'NOT_FOUND')
    expectError(await app.inject({ method: 'PUT', url: '/v1/', headers: json }), 'NOT_FOUND')
  })
})

describe('at, seq, after, from and to', () => {
  const garbage = [
    ['a word', 'at=yesterday'],
    ['a negative time', 'at=-1'],
    ['a fraction', 'at=1.5'],
    ['an exponent', 'at=1e3'],
    ['empty', 'at='],
    ['hex', 'at=0x10'],
    ['a plus sign', 'at=%2B5'],
    ['a leading zero', 'at=01'],
    ['beyond 2^53', 'at=99999999999999999'],
    ['a word seq', 'seq=first'],
    ['a negative seq', 'seq=-1'],
    ['both at and seq', 'at=1&seq=1'],
    ['at twice', 'at=1&at=2'],
    ['a word after', 'at=now&after=x'],
  ] as const
  test.for(garbage)('%s is a 400 INVALID_PARAMETER on /v1/state and /v1/window', async ([, query], { app }) => {
    const unchanged = await keeper(app)
    expectError(await app.inject({ url: `/v1/window/keep?${query}` }), 'INVALID_PARAMETER')
    if (!query.includes('after')) expectError(await app.inject({ url: `/v1/state/keep?${query}` }), 'INVALID_PARAMETER')
    await unchanged()
  })

  test('a window needs a point', async ({ app }) => {
    await keeper(app)
    expectError(await app.inject({ url: '/v1/window/keep' }), 'INVALID_PARAMETER')
  })

  test.for([['from=x'], ['to=-5'], ['from=1.5&to=2'], ['from=10&to=9'], ['from=1&from=2']] as const)(
    '/v1/windows with %s is a 400 INVALID_PARAMETER',
    async ([query], { app }) => {
      await keeper(app)
      expectError(await app.inject({ url: `/v1/windows/keep?${query}` }), 'INVALID_PARAMETER')
    },
  )
})

describe('history routes on plain streams', () => {
  test.for([
    ['a plain JSON stream', 'application/json', '[1]'],
    ['a byte stream', 'text/plain', 'x'],
  ] as const)('%s answers 409 NOT_A_STATE_STREAM on every history route', async ([, type, body], { app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': type }, payload: body })
    const before = (await app.inject({ url: '/v1/stream/plain' })).body
    for (const url of ['/v1/window/plain?at=now', '/v1/window/plain?seq=0', '/v1/windows/plain', '/v1/state/plain', '/v1/state/plain?at=1']) {
      expectError(await app.inject({ url }), 'NOT_A_STATE_STREAM')
    }
    expectError(await app.inject({ method: 'PUT', url: '/v1/state/plain', payload: '{"a":1}' }), 'NOT_A_STATE_STREAM')
    expect((await app.inject({ url: '/v1/stream/plain' })).body).toBe(before)
  })
})

describe('create headers', () => {
  test.for([
    ['an unknown Stream-Kind', { 'content-type': 'application/json', 'stream-kind': 'table' }],
    ['a state stream that is not JSON', { 'content-type': 'text/plain', 'stream-kind': 'state' }],
    ['a zero snapshot policy', { ...stateHeaders(), 'stream-snapshot-entries': '0' }],
    ['a word snapshot policy', { ...stateHeaders(), 'stream-snapshot-bytes': 'lots' }],
    ['a fractional snapshot policy', { ...stateHeaders(), 'stream-snapshot-ms': '1.5' }],
    ['a snapshot policy on a plain stream', { 'content-type': 'application/json', 'stream-snapshot-entries': '5' }],
    ['a TTL with a plus sign', { 'content-type': 'text/plain', 'stream-ttl': '+60' }],
    ['a TTL with a leading zero', { 'content-type': 'text/plain', 'stream-ttl': '060' }],
    ['both TTL and Expires-At', { 'content-type': 'text/plain', 'stream-ttl': '60', 'stream-expires-at': '2030-01-01T00:00:00Z' }],
    ['an Expires-At that is not RFC 3339', { 'content-type': 'text/plain', 'stream-expires-at': 'tomorrow' }],
  ] as const)('%s is a 400 INVALID_PARAMETER and creates nothing', async ([, headers], { app }) => {
    expectError(await app.inject({ method: 'PUT', url: '/v1/stream/s', headers }), 'INVALID_PARAMETER')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/s' })).statusCode).toBe(404)
  })
})

test('random requests never get a 500, and always a well-formed error body when refused', async ({ app }) => {
  await keeper(app)
  await app.inject({ method: 'PUT', url: '/v1/stream/text', headers: { 'content-type': 'text/plain' }, payload: 'x' })
  const unchanged = await observe(app, 'keep')
  const segment = fc.oneof(fc.constantFrom('keep', 'text', 'ghost', '..', '.', '', '%zz', '%2F'), fc.string({ maxLength: 6 }))
  const query = fc.oneof(
    fc.constant(''),
    fc.tuple(fc.constantFrom('at', 'seq', 'after', 'from', 'to', 'offset', 'live'), fc.string({ maxLength: 8 })).map(([k, v]) => `${k}=${encodeURIComponent(v)}`),
  )
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'HEAD'),
      fc.constantFrom('/v1/stream/', '/v1/window/', '/v1/windows/', '/v1/state/'),
      segment,
      query,
      fc.oneof(fc.json(), fc.string({ maxLength: 20 })),
      async (method, route, name, q, body) => {
        // Never DELETE or PUT-create the stream under watch; everything else goes.
        const target = (method === 'DELETE' || (method === 'PUT' && route === '/v1/stream/')) && name === 'keep' ? 'ghost' : name
        const res = await app.inject({
          method,
          url: `${route}${target}?${q}`,
          headers: { 'content-type': 'application/json' },
          ...(method === 'POST' || method === 'PUT' ? { payload: body } : {}),
        })
        expect(res.statusCode, `${method} ${route}${target}?${q}: ${res.body}`).toBeLessThan(500)
        if (res.statusCode >= 400 && method !== 'HEAD') {
          const code = res.json<{ error: { code: ErrorCode } }>().error.code
          expectError(res, code)
        }
      },
    ),
    { numRuns: 300 },
  )
  // Writes that were valid may have landed on "keep" by POST or PUT /v1/state; compare only if none did.
  const after = await observe(app, 'keep')
  if (after.head === unchanged.head) expect(after).toEqual(unchanged)
})
