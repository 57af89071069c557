/**
 * A stream that expires (`Stream-TTL`) is gone as a deleted one is: its live readers are told
 * (`STREAM_DELETED` in-band, as for a DELETE), and none of them ever receives anything of a new
 * stream created under its name afterwards — whether the expiry is found by the live side's own
 * sweep or only when the name is created again. Real time: the TTL is the shortest there is (1 s).
 */
import { describe, expect } from 'vitest'
import { request } from 'undici'
import { liveTest as test, append, getJson, sleep } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'

const STATE = { 'content-type': 'application/json', 'stream-kind': 'state' }

async function put(url: string, name: string, headers: Record<string, string>, body?: string): Promise<number> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers, ...(body !== undefined && { body }) })
  await response.body.dump()
  return response.statusCode
}

/** Waits until `ms` have passed since `since` (the TTL's clock, not an ordering). */
async function until(since: number, ms: number): Promise<void> {
  while (Date.now() < since + ms) await sleep(50)
}

/** The error code of a reader's in-band error event, once it comes. */
async function inBandError(reader: SseReader): Promise<string> {
  const event = await reader.waitFor((candidate) => candidate.event === 'error', 15_000)
  return (JSON.parse(event.data) as { error: { code: string } }).error.code
}

describe('a stream that expires', () => {
  test('its live readers are told it is gone, found by the live side without any request', async ({ serve }) => {
    const { url } = await serve({ heartbeatMs: 100 })
    expect(await put(url, 'ttl/a', { ...STATE, 'stream-ttl': '1' }, '{"set":{"old":1}}')).toBe(201)
    const opened = Date.now()
    const single = await SseReader.open(`${url}/v1/live/ttl/a`)
    const multi = await SseReader.open(`${url}/v1/live?stream=ttl/a`)
    expect([single.status, multi.status]).toEqual([200, 200])

    // Nobody reads or writes it: after its TTL the live side finds it expired and ends the tails.
    expect(await inBandError(single)).toBe('STREAM_DELETED')
    expect(await inBandError(multi)).toBe('STREAM_DELETED')
    expect(Date.now() - opened).toBeGreaterThanOrEqual(1000)
    await single.waitEnd()
    await multi.waitEnd()
  })

  test('created again before anything looked it up: the old readers end before the new stream’s entries', async ({ serve }) => {
    // Heartbeats (and the sweep with them) far apart: only the new stream's creation finds the expiry.
    const { url } = await serve({ heartbeatMs: 60_000 })
    expect(await put(url, 'ttl/b', { ...STATE, 'stream-ttl': '1' }, '{"set":{"old":1}}')).toBe(201)
    const single = await SseReader.open(`${url}/v1/live/ttl/b`)
    const multi = await SseReader.open(`${url}/v1/live?stream=ttl/b`)
    const plain = await SseReader.open(`${url}/v1/stream/ttl/b?offset=-1&live=sse`)
    // Each has its initial data before the stream expires.
    await single.waitFor((event) => event.event === 'window')
    await multi.waitFor((event) => event.event === 'window')
    await plain.waitFor((event) => event.event === 'data')
    await until(Date.now(), 1500)

    expect(await put(url, 'ttl/b', STATE)).toBe(201)
    await append(url, 'ttl/b', '{"merge":{"new":2}}')
    await append(url, 'ttl/b', '{"merge":{"new":3}}')
    expect((await getJson<{ seq: number; state: unknown }>(url, '/v1/state/ttl/b')).body).toMatchObject({ seq: 2, state: { new: 3 } })

    expect(await inBandError(single)).toBe('STREAM_DELETED')
    expect(await inBandError(multi)).toBe('STREAM_DELETED')
    await Promise.all([single.waitEnd(), multi.waitEnd(), plain.waitEnd()])
    // Nothing of the new stream reached any of them.
    for (const reader of [single, multi, plain]) {
      expect(reader.events.filter((event) => event.data.includes('"new"'))).toEqual([])
    }
  })
})
