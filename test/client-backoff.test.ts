/**
 * Against a server that answers every live request with an error, the cursor keeps trying, but
 * only as often as the backoff schedule allows: the backoff resets only after a connection proved
 * healthy, never on an error, in-band or not. With the defaults (100 ms doubling to 10 s, equal
 * jitter) that is at most 7 reconnects in the first 10 s (8 requests), whatever the jitter draws.
 */
import { expect } from 'vitest'
import { clientTest as test } from './support/count-requests.ts'
import type { Gate } from './support/count-requests.ts'
import { sleep } from './support/live-server.ts'

/** Every live request answered `500 INTERNAL`. */
const refuseLive: Gate = async (request, reply) => {
  if (!request.url.startsWith('/v1/live/')) return undefined
  return reply.code(500).header('content-type', 'application/json').send(JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } }))
}

/** Every live request answered 200 with the open window, then an in-band `INTERNAL` error. */
function failInBand(base: () => string): Gate {
  return async (request, reply) => {
    if (!request.url.startsWith('/v1/live/')) return undefined
    const name = request.url.slice('/v1/live/'.length).split('?')[0]
    const window = await (await fetch(`${base()}/v1/window/${name}?at=now`)).text()
    reply.hijack()
    reply.raw.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store' })
    reply.raw.write(`event: window\nid: 0\ndata: ${window}\n\n`)
    reply.raw.end(`event: error\ndata: ${JSON.stringify({ error: { code: 'INTERNAL', message: 'internal error' } })}\n\n`)
    return reply
  }
}

test('a server that fails every live request gets at most 8 requests in 10 s, in-band errors included', async ({ serve, connect }) => {
  let inBandUrl = ''
  const refusing = await serve({}, refuseLive)
  const inBand = await serve({}, failInBand(() => inBandUrl))
  inBandUrl = inBand.url
  const counts: Record<string, number> = {}
  const statuses: Record<string, string[]> = {}
  const started = performance.now()
  for (const [label, server] of [['500 on connect', refusing], ['in-band error after the window', inBand]] as const) {
    const name = 'storm/a'
    await connect(server.url).client.stream(name).create()
    const { client } = connect(server.url)
    const stream = client.stream(name)
    statuses[label] = []
    stream.status$.subscribe((s) => statuses[label]!.push(s))
    stream.live$.subscribe({ error: () => (counts[`${label} errors`] = (counts[`${label} errors`] ?? 0) + 1) })
  }
  // Let ten seconds pass: the rate is what is measured.
  await sleep(10_000 - (performance.now() - started))
  counts['500 on connect'] = refusing.served.count('/v1/live/')
  counts['in-band error after the window'] = inBand.served.count('/v1/live/')
  console.log(`reconnect storm, 10 s, default backoff: ${JSON.stringify(counts)} live requests (first request included)`)
  for (const label of ['500 on connect', 'in-band error after the window']) {
    // Never an error for the subscriber: these failures are retried.
    expect(counts[`${label} errors`]).toBeUndefined()
    expect(counts[label]).toBeLessThanOrEqual(8)
    // It does keep trying (a slow machine may fit fewer in).
    expect(counts[label]).toBeGreaterThanOrEqual(4)
    expect(statuses[label]).toContain('reconnecting')
    // (Its first status is the closed one before the first subscriber.)
    expect(statuses[label]!.slice(1)).not.toContain('closed')
  }
})
