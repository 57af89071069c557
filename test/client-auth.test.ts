/**
 * Credentials and refusals: `headers` (values, or a function read before every request and every
 * reconnect), `onError` returning new headers (a token refresh, on a request and in-band on a live
 * connection), and 401/403 — from the server or from anything in front of it — reaching the caller
 * as `UNAUTHORIZED`/`FORBIDDEN` with the HTTP status and the body's own code.
 */
import { describe, expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { Gate } from './support/count-requests.ts'
import { failure, first } from './support/observe.ts'

/** The `authorization` header of each request, in order. */
function tokens(): { seen: string[]; gate: (allowed: (token: string) => boolean) => Gate } {
  const seen: string[] = []
  return {
    seen,
    gate: (allowed) => async (request, reply) => {
      const token = String(request.headers.authorization ?? '')
      seen.push(token)
      if (!allowed(token)) {
        return reply
          .code(401)
          .header('content-type', 'application/json')
          .send(JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'the token is missing or expired' } }))
      }
      return undefined
    },
  }
}

describe('headers', () => {
  test('fixed headers go with every request', async ({ serve, connect }) => {
    const auth = tokens()
    const server = await serve({}, auth.gate((token) => token === 'Bearer fixed'))
    const { client } = connect(server.url, { headers: { Authorization: 'Bearer fixed' } })
    const stream = client.stream('auth/fixed')
    await stream.create()
    await stream.append(merge({ a: 1 }))
    expect(await stream.stateAt(Number.MAX_SAFE_INTEGER - 1)).toEqual({ a: 1 })
    expect(auth.seen.length).toBeGreaterThanOrEqual(3)
    expect(new Set(auth.seen)).toEqual(new Set(['Bearer fixed']))
  })

  test('a headers function is read before every request and every reconnect', async ({ serve, connect, proxy }) => {
    const auth = tokens()
    const server = await serve({ heartbeatMs: 100 }, auth.gate((token) => token.startsWith('Bearer t')))
    const net = await proxy(server.url)
    let issued = 0
    const { client } = connect(net.url, {
      headers: async () => ({ authorization: `Bearer t${++issued}` }),
      backoff: { initialMs: 5, maxMs: 20 },
    })
    const stream = client.stream('auth/fn')
    await stream.create()
    const seqs: number[] = []
    const subscription = stream.live$.subscribe((s) => seqs.push(s.seq))
    await first(stream.status$, (s) => s === 'live')
    const before = auth.seen.length
    net.cut()
    await first(stream.status$, (s) => s === 'reconnecting')
    await first(stream.status$, (s) => s === 'live')
    await stream.append(merge({ n: 1 }))
    await first(stream.live$, (s) => s.seq === 1)
    subscription.unsubscribe()
    // One token per request: the reconnect asked for a fresh one.
    expect(auth.seen).toEqual(Array.from({ length: auth.seen.length }, (_, i) => `Bearer t${i + 1}`))
    expect(auth.seen.length).toBeGreaterThan(before)
    expect(seqs).toEqual([0, 1])
  })
})

describe('refusals', () => {
  test.for([
    ['the server: 401 with its own code', 401, { error: { code: 'UNAUTHORIZED', message: 'expired' } }, 'UNAUTHORIZED', 'UNAUTHORIZED'],
    ['the server: 403 with its own code', 403, { error: { code: 'FORBIDDEN', message: 'no grant' } }, 'FORBIDDEN', 'FORBIDDEN'],
    ['a gateway: 401 with a code of its own', 401, { error: { code: 'TOKEN_EXPIRED', message: 'jwt expired' } }, 'UNAUTHORIZED', 'TOKEN_EXPIRED'],
    ['a proxy: 403 with a foreign body', 403, { message: 'denied by policy' }, 'FORBIDDEN', undefined],
    ['a proxy: 401 with no body', 401, undefined, 'UNAUTHORIZED', undefined],
  ] as const)('%s', async ([, status, body, code, serverCode], { serve, connect }) => {
    const server = await serve({}, async (request, reply) => {
      if (!request.url.startsWith('/v1/window/') && !request.url.startsWith('/v1/live/')) return undefined
      reply.code(status)
      if (body === undefined) return reply.send()
      return reply.header('content-type', 'application/json').send(JSON.stringify(body))
    })
    const { client } = connect(server.url)
    const stream = client.stream('auth/refused')
    await stream.create()
    const err = await stream.window({ seq: 0 }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'StateStreamError', code, status, serverCode })
    // Not retried: a refusal is the caller's to act on.
    expect(server.served.count('/v1/window/')).toBe(1)
    // live$ fails with it too, at once.
    expect(await failure(stream.live$)).toMatchObject({ code, status })
  })

  test('live$ ends with UNAUTHORIZED when the server refuses and onError gives nothing', async ({ serve, connect }) => {
    const auth = tokens()
    const server = await serve({}, auth.gate((token) => token === 'Bearer ok' || !token))
    const { client } = connect(server.url, { headers: { authorization: 'Bearer stale' } })
    const writer = connect(server.url).client.stream('auth/live-refused')
    await writer.create()
    const err = await failure(client.stream('auth/live-refused').live$)
    expect(err).toMatchObject({ code: 'UNAUTHORIZED', status: 401 })
  })
})

describe('onError', () => {
  test('returned headers retry the call, and are kept for later requests', async ({ serve, connect }) => {
    const auth = tokens()
    const server = await serve({}, auth.gate((token) => token === 'Bearer fresh'))
    const errors: string[] = []
    const { client } = connect(server.url, {
      headers: { authorization: 'Bearer stale' },
      onError: async (err) => {
        errors.push(err.code)
        return err.code === 'UNAUTHORIZED' ? { authorization: 'Bearer fresh' } : undefined
      },
    })
    const stream = client.stream('auth/refresh')
    await stream.create()
    await stream.append(merge({ a: 1 }))
    expect(await stream.stateAt(Number.MAX_SAFE_INTEGER - 1)).toEqual({ a: 1 })
    expect(errors).toEqual(['UNAUTHORIZED'])
    expect(auth.seen[0]).toBe('Bearer stale')
    expect(auth.seen.slice(1)).toEqual(auth.seen.slice(1).map(() => 'Bearer fresh'))
  })

  test('an error the refresh does not cure goes through after a few tries', async ({ serve, connect }) => {
    const server = await serve({}, tokens().gate(() => false))
    let calls = 0
    const { client } = connect(server.url, { onError: () => (calls++, {}) })
    await expect(client.stream('auth/never').create()).rejects.toMatchObject({ code: 'UNAUTHORIZED' })
    expect(calls).toBeGreaterThan(0)
    expect(calls).toBeLessThanOrEqual(3)
  })

  test('a live connection refused in-band (its token expired) renews and resumes: no gap, no error', async ({ serve, connect }) => {
    let expireNext = true
    const server = await serve({ heartbeatMs: 100 }, async (request, reply) => {
      const token = String(request.headers.authorization ?? '')
      if (!request.url.startsWith('/v1/live/') || !expireNext || token !== 'Bearer first') return undefined
      // Serve the open window as the server would, then end the connection with an in-band refusal.
      expireNext = false
      const name = request.url.slice('/v1/live/'.length).split('?')[0]
      const window = await (await fetch(`${server.url}/v1/window/${name}?at=now`)).text()
      const last = (JSON.parse(window) as { entries: Array<{ seq: number }> }).entries.at(-1)?.seq ?? 0
      reply.hijack()
      reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
      reply.raw.write(`event: window\nid: ${last}\ndata: ${window}\n\n`)
      reply.raw.end(`event: error\ndata: ${JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'the token expired' } })}\n\n`)
      return reply
    })
    const writer = connect(server.url).client.stream('auth/in-band')
    await writer.create()
    await writer.append(merge({ n: 1 }))
    const refreshed: string[] = []
    const { client } = connect(server.url, {
      headers: { authorization: 'Bearer first' },
      onError: (err) => {
        refreshed.push(err.code)
        return { authorization: 'Bearer second' }
      },
    })
    const stream = client.stream('auth/in-band')
    const seen: number[] = []
    let failed: unknown
    const subscription = stream.live$.subscribe({ next: (s) => seen.push(s.seq), error: (err) => (failed = err) })
    await first(stream.live$, (s) => s.seq === 1)
    await writer.append(merge({ n: 2 }))
    await first(stream.live$, (s) => s.seq === 2)
    subscription.unsubscribe()
    expect(failed).toBeUndefined()
    expect(refreshed).toEqual(['UNAUTHORIZED'])
    expect(seen).toEqual([1, 2])
    // The renewed connection resumed after what the refused one delivered.
    expect(server.served.requests.filter((line) => line.includes('/v1/live/'))).toEqual([
      'GET /v1/live/auth/in-band',
      expect.stringMatching(/^GET \/v1\/live\/auth\/in-band\?after=1&window=0\.\d+$/),
    ])
  })
})
