/**
 * Live connections under access control: one lasts no longer than its token (ended at `exp` with
 * an in-band `UNAUTHORIZED`, so the client renews and resumes without loss), a long-poll waits no
 * longer than its token, and a token holds at most `maxLiveConnectionsPerToken` live connections.
 */
import { request } from 'undici'
import { expect } from 'vitest'
import { liveTest as test } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import { HS_AUTH, bearer, hsToken } from './support/tokens.ts'

async function adminSetUp(url: string, name: string): Promise<string> {
  const admin = bearer(await hsToken({ scope: 'admin' }))
  const res = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state', ...admin } })
  await res.body.dump()
  expect(res.statusCode).toBe(201)
  return name
}

async function appendAs(url: string, name: string, token: string, body: string): Promise<void> {
  const res = await request(`${url}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': 'application/json', ...bearer(token) }, body })
  await res.body.dump()
  expect(res.statusCode).toBe(204)
}

test('a live connection whose token expires ends with UNAUTHORIZED; a renewed token resumes without loss', async ({ serve }) => {
  const { url } = await serve({ auth: HS_AUTH, heartbeatMs: 60_000, clockMs: 60_000 })
  const name = await adminSetUp(url, 'exp/a')
  const writer = await hsToken({ scope: 'write:exp/' })
  let short = ''
  for (const path of [`/v1/live/${name}`, `/v1/live?stream=${name}`]) {
    // Expires in 2 to 3 s (exp has one-second resolution): long enough to see an entry first.
    short = await hsToken({ scope: 'read:exp/', expiresIn: 3 })
    const reader = await SseReader.open(`${url}${path}`, { headers: bearer(short) })
    expect(reader.status).toBe(200)
    expect((await reader.next()).event).toBe('window')
    await appendAs(url, name, writer, '{"merge":{"before":1}}')
    await reader.waitFor((event) => event.event === 'entry')
    const error = await reader.waitFor((event) => event.event === 'error', 10_000)
    expect(JSON.parse(error.data).error.code).toBe('UNAUTHORIZED')
    await reader.waitEnd()
    reader.close()
  }
  // The expired token is refused; a renewed one resumes after the last id.
  const refused = await request(`${url}/v1/live/${name}`, { headers: bearer(short) })
  await refused.body.dump()
  expect(refused.statusCode).toBe(401)
  await appendAs(url, name, writer, '{"merge":{"after":1}}')
  const renewed = await SseReader.open(`${url}/v1/live/${name}`, { headers: { ...bearer(await hsToken({ scope: 'read:exp/', expiresIn: 60 })), 'last-event-id': '2' } })
  const entry = await renewed.waitFor((event) => event.event === 'entry')
  expect(JSON.parse(entry.data)).toMatchObject({ seq: 3, m: { merge: { after: 1 } } })
  renewed.close()
})

test('Durable Streams SSE ends at the token expiry; a long-poll waits no longer than its token', async ({ serve }) => {
  const { url } = await serve({ auth: HS_AUTH, longPollTimeoutMs: 60_000, sseMaxMs: 60_000 })
  const name = await adminSetUp(url, 'exp/b')
  const short = await hsToken({ scope: 'read:exp/', expiresIn: 2 })
  const sse = await SseReader.open(`${url}/v1/stream/${name}?offset=-1&live=sse`, { headers: bearer(short) })
  expect(sse.status).toBe(200)
  await sse.waitEnd(10_000)
  // A long-poll of a token with 2 to 3 s left: its 60 s wait is cut to the token's life.
  const started = performance.now()
  const poll = await request(`${url}/v1/stream/${name}?offset=now&live=long-poll`, { headers: bearer(await hsToken({ scope: 'read:exp/', expiresIn: 3 })) })
  await poll.body.dump()
  expect(poll.statusCode).toBe(204)
  expect(performance.now() - started).toBeLessThan(30_000)
})

test('a token holds at most maxLiveConnectionsPerToken live connections; closing one frees its place', async ({ serve }) => {
  const { url } = await serve({ auth: HS_AUTH, maxLiveConnectionsPerToken: 2, heartbeatMs: 60_000 })
  const name = await adminSetUp(url, 'cap/a')
  const token = await hsToken({ scope: 'read:cap/', expiresIn: 600 })
  const other = await hsToken({ scope: 'read:cap/', expiresIn: 601 })
  const first = await SseReader.open(`${url}/v1/live/${name}`, { headers: bearer(token) })
  const second = await SseReader.open(`${url}/v1/live?stream=${name}`, { headers: bearer(token) })
  expect([first.status, second.status]).toEqual([200, 200])
  const third = await request(`${url}/v1/stream/${name}?offset=now&live=long-poll`, { headers: bearer(token) })
  const body = (await third.body.json()) as { error: { code: string } }
  expect(third.statusCode).toBe(429)
  expect(body.error.code).toBe('TOO_MANY_CONNECTIONS')
  // Another token is not held back by this one's connections.
  const elsewhere = await SseReader.open(`${url}/v1/live/${name}`, { headers: bearer(other) })
  expect(elsewhere.status).toBe(200)
  elsewhere.close()
  // Once a connection ends, the server frees its place (it notices the close asynchronously).
  first.close()
  let status = 0
  for (let tries = 0; tries < 200 && status !== 200; tries++) {
    const again = await SseReader.open(`${url}/v1/live/${name}`, { headers: bearer(token) })
    status = again.status
    if (status === 200) again.close()
    else {
      await again.text()
      await new Promise((resolve) => setTimeout(resolve, 25))
    }
  }
  expect(status).toBe(200)
  second.close()
})
