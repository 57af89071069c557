/**
 * Connection caps and rate limits: at most `maxConnectionsPerAddress` open connections from one
 * address (the next is told 429 and closed), optional rate limiting per token or address (429
 * RATE_LIMITED with Retry-After), and server limits that cannot work refused at start.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { buildApp } from '@statestream/server'
import { Agent, request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test } from './support/live-server.ts'
import { HS_AUTH, bearer, hsToken } from './support/tokens.ts'

/** A raw connection and everything the server sent on it until it closed. */
function open(port: number): Promise<{ socket: Socket; closed: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1')
    let received = ''
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => (received += chunk))
    socket.on('error', () => {})
    const closed = new Promise<string>((done) => socket.on('close', () => done(received)))
    socket.once('connect', () => resolve({ socket, closed }))
    socket.once('error', reject)
  })
}

describe('connections per address', () => {
  test('one over the cap is answered 429 TOO_MANY_CONNECTIONS and closed; a freed place is taken again', async ({ serve }) => {
    const { app, url } = await serve({ maxConnectionsPerAddress: 3 })
    const port = (app.server.address() as { port: number }).port
    const held = await Promise.all([open(port), open(port), open(port)])
    const refused = await open(port)
    const answer = await refused.closed
    expect(answer).toMatch(/^HTTP\/1\.1 429 /)
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { code: 'TOO_MANY_CONNECTIONS' } })
    // The held connections still work.
    held[0]?.socket.write('GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    expect(await held[0]?.closed).toMatch(/^HTTP\/1\.1 200 /)
    // Its place is free again once the server has seen it close.
    let status = 0
    for (let tries = 0; tries < 100 && status !== 200; tries++) {
      const agent = new Agent({ connections: 1 })
      const res = await request(`${url}/health`, { dispatcher: agent }).catch(() => undefined)
      status = res?.statusCode ?? 0
      await res?.body.dump()
      await agent.close()
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 20))
    }
    expect(status).toBe(200)
    for (const connection of held) connection.socket.destroy()
  })
})

describe('rate limiting', () => {
  test('more than max requests in the window are 429 RATE_LIMITED with Retry-After', async ({ serve }) => {
    const { url } = await serve({ rateLimit: { max: 3, timeWindowMs: 60_000 } })
    const statuses: number[] = []
    let limited: { code?: string } | undefined
    let retryAfter: unknown
    for (let i = 0; i < 5; i++) {
      const res = await request(`${url}/v1/state/none`)
      statuses.push(res.statusCode)
      if (res.statusCode === 429) {
        limited = ((await res.body.json()) as { error: { code: string } }).error
        retryAfter = res.headers['retry-after']
      } else await res.body.dump()
    }
    expect(statuses).toEqual([404, 404, 404, 429, 429])
    expect(limited?.code).toBe('RATE_LIMITED')
    expect(Number(retryAfter)).toBeGreaterThan(0)
    // /health is not limited.
    const health = await request(`${url}/health`)
    await health.body.dump()
    expect(health.statusCode).toBe(200)
  })

  test('with access control, each token has a budget of its own', async ({ serve }) => {
    const { url } = await serve({ auth: HS_AUTH, rateLimit: { max: 2, timeWindowMs: 60_000 } })
    const tokens = [await hsToken({ scope: 'read:*', subject: 'a' }), await hsToken({ scope: 'read:*', subject: 'b' })]
    const statuses: number[][] = [[], []]
    for (let i = 0; i < 3; i++) {
      for (const [t, token] of tokens.entries()) {
        const res = await request(`${url}/v1/state/none`, { headers: bearer(token) })
        await res.body.dump()
        statuses[t]?.push(res.statusCode)
      }
    }
    expect(statuses).toEqual([
      [404, 404, 429],
      [404, 404, 429],
    ])
  })
})

describe('server limits that cannot work', () => {
  test.for([
    ['a headers timeout longer than the request timeout', { headersTimeoutMs: 5_000, requestTimeoutMs: 1_000 }, 'requestTimeoutMs'],
    ['an idle timeout shorter than the heartbeat', { idleTimeoutMs: 10_000, heartbeatMs: 15_000 }, 'heartbeatMs'],
    ['an idle timeout shorter than a long-poll', { idleTimeoutMs: 18_000 }, 'longPollTimeoutMs'],
    ['a negative cap', { maxConnectionsPerAddress: -1 }, 'maxConnectionsPerAddress'],
    ['a zero rate', { rateLimit: { max: 0 } }, 'rateLimit.max'],
  ] as const)('%s is refused with a clear error', async ([, options, words]) => {
    await expect(buildApp(options)).rejects.toThrow(words)
  })
})
