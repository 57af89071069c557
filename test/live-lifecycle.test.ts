/**
 * Lifecycle of live connections: `app.close()` ends every one of them promptly — in-band
 * `SHUTTING_DOWN` where the format has errors, a plain end on Durable Streams SSE, 503 for a
 * long-poll waiter — even when a reader has stopped reading.
 */
import { request } from 'undici'
import { expect } from 'vitest'
import { liveTest as test, append, createPlainStream, createStateStream, sleep } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'

test('app.close() ends every live connection promptly', async ({ serve }) => {
  const { url, app } = await serve({ heartbeatMs: 60_000, clockMs: 60_000, longPollTimeoutMs: 60_000, sseMaxMs: 600_000 })
  await createStateStream(url, 'bye/state')
  await createPlainStream(url, 'bye/plain', 'application/json')
  await append(url, 'bye/state', JSON.stringify({ set: { big: 'y'.repeat(256 * 1024) } }))

  // First, so it is surely waiting on the server by the time the app closes.
  const longPoll = request(`${url}/v1/stream/bye/plain?offset=now&live=long-poll`).then(async (response) => ({
    status: response.statusCode,
    body: await response.body.text(),
  }))
  const single = await SseReader.open(`${url}/v1/live/bye/state`)
  const multi = await SseReader.open(`${url}/v1/live?stream=bye/state`)
  const ds = await SseReader.open(`${url}/v1/stream/bye/plain?offset=-1&live=sse`)
  // One that never reads its (large) window: close must not wait on it beyond a short grace.
  const stalled = await SseReader.open(`${url}/v1/live/bye/state`, { paused: true })
  await single.waitFor((event) => event.event === 'window')
  await multi.waitFor((event) => event.event === 'window')
  await ds.waitFor((event) => event.event === 'control')
  await sleep(300)

  const started = performance.now()
  await app.close()
  const took = performance.now() - started
  // The grace for a stalled reader is one second; anything near a timeout means close hung.
  expect(took).toBeLessThan(10_000)

  for (const reader of [single, multi]) {
    const error = await reader.waitFor((event) => event.event === 'error')
    expect(JSON.parse(error.data).error.code).toBe('SHUTTING_DOWN')
    await reader.waitEnd()
  }
  await ds.waitEnd()
  expect(ds.events.some((event) => event.event === 'error')).toBe(false)
  const answer = await longPoll
  expect(answer.status).toBe(503)
  expect(JSON.parse(answer.body).error.code).toBe('SHUTTING_DOWN')
  stalled.close()
})
