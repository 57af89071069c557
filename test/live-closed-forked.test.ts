/**
 * The live tails of `/v1/live` on closed and forked state streams (design §2.1, §2.3): a closure
 * reaches every reader as the final `bound` (`"closed":true`) and ends a single-stream tail; a
 * fork's tail starts from its inherited window and carries its own entries only. Real HTTP.
 */
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test, append, createStateStream } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import type { SseEvent } from './support/sse.ts'

async function close(url: string, name: string, body?: string): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, {
    method: 'POST',
    headers: { 'stream-closed': 'true', ...(body !== undefined && { 'content-type': 'application/json' }) },
    ...(body !== undefined && { body }),
  })
  await response.body.dump()
  expect(response.statusCode).toBe(204)
}

async function fork(url: string, name: string, from: string, offset?: string): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, {
    method: 'PUT',
    headers: { 'stream-forked-from': `/v1/stream/${from}`, ...(offset !== undefined && { 'stream-fork-offset': offset }) },
  })
  await response.body.dump()
  expect(response.statusCode).toBe(201)
}

/** The events of `reader` until its response ends (heartbeats left out). */
async function rest(reader: SseReader): Promise<SseEvent[]> {
  expect((await reader.waitEnd()).error).toBeUndefined()
  return reader.pending.filter((event) => event.event !== 'heartbeat')
}

const data = (event: SseEvent | undefined): unknown => (event === undefined ? undefined : JSON.parse(event.data))

/**
 * A state stream `name` (a snapshot every `snapshotEntries`) with entry 1, tailed at `route` from
 * its window on, closed by an append of entry 2: what the tail got after its window.
 */
async function closedWhileTailed(url: string, name: string, snapshotEntries: number, route: string): Promise<SseEvent[]> {
  await createStateStream(url, name, snapshotEntries)
  await append(url, name, '{"merge":{"a":1}}')
  const reader = await SseReader.open(`${url}${route}`)
  expect((await reader.next()).event).toBe('window')
  await close(url, name, '{"merge":{"a":2}}')
  return rest(reader)
}

describe('/v1/live/<name> on a closed stream', () => {
  test('a tail gets the entries closed with the stream, the final bound, and then its response ends', async ({ serve }) => {
    const { url } = await serve()
    const name = 'closing'
    const events = await closedWhileTailed(url, name, 100, `/v1/live/${name}`)
    // The closure ends the window at the last entry: told once, by the final bound.
    expect(events.map((e) => e.event)).toEqual(['entry', 'bound'])
    expect(data(events[0])).toMatchObject({ seq: 2, m: { merge: { a: 2 } } })
    expect(data(events[1])).toEqual({ seq: 2, ts: expect.any(Number), closed: true })

    // A reader resuming on the closed stream is told the end the same way, once.
    for (const [after, expected] of [
      ['1', ['entry', 'bound']],
      ['2', ['bound']],
    ] as const) {
      const resumed = await SseReader.open(`${url}/v1/live/${name}?after=${after}`)
      const again = await rest(resumed)
      expect(again.map((e) => e.event)).toEqual(expected)
      expect(data(again.at(-1))).toEqual({ seq: 2, ts: expect.any(Number), closed: true })
    }
    // And a multiplexed reader, live and resuming.
    const multi = await SseReader.open(`${url}/v1/live?stream=${name}@1`)
    const ofMulti = (await rest(multi)).filter((e) => e.event !== 'clock')
    expect(ofMulti.map((e) => e.event)).toEqual(['entry', 'bound'])
    expect(data(ofMulti[1])).toMatchObject({ stream: name, seq: 2, closed: true })
  })

  test('a multiplexed tail is told a closure with an append once', async ({ serve }) => {
    const { url } = await serve()
    const name = 'closing-multi'
    const events = (await closedWhileTailed(url, name, 100, `/v1/live?stream=${name}`)).filter((e) => e.event !== 'clock')
    expect(events.map((e) => e.event)).toEqual(['entry', 'bound'])
    expect(data(events[1])).toMatchObject({ stream: name, seq: 2, closed: true })
  })

  test('a close at an entry that also ends a window by the policy is told once', async ({ serve }) => {
    const { url } = await serve()
    // Entry 2 fills the window (a snapshot every 2 entries) and closes the stream.
    const name = 'closing-at-policy'
    const events = await closedWhileTailed(url, name, 2, `/v1/live/${name}`)
    expect(events.map((e) => e.event)).toEqual(['entry', 'bound'])
    expect(data(events[1])).toEqual({ seq: 2, ts: expect.any(Number), closed: true })
  })

  test('a close without an append still ends every tail with the final bound', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'close-only')
    await append(url, name, '{"set":{"v":1}}')
    const readers = await Promise.all([1, 2, 3].map(() => SseReader.open(`${url}/v1/live/${name}`)))
    for (const reader of readers) expect((await reader.next()).event).toBe('window')
    await close(url, name)
    for (const reader of readers) {
      const events = await rest(reader)
      expect(events.map((e) => [e.event, data(e)])).toEqual([['bound', { seq: 1, ts: expect.any(Number), closed: true }]])
    }
  })

  test('a reader arriving after the closure gets the last window, closed, then the final bound; so does a resume', async ({ serve }) => {
    const { url } = await serve()
    const name = await createStateStream(url, 'closed-before', 2)
    for (let i = 1; i <= 3; i++) await append(url, name, JSON.stringify({ merge: { i } }))
    await close(url, name)
    const fresh = await rest(await SseReader.open(`${url}/v1/live/${name}`))
    expect(fresh.map((e) => e.event)).toEqual(['window', 'bound'])
    expect(data(fresh[0])).toMatchObject({ start: { seq: 2 }, entries: [{ seq: 3 }], end: { seq: 3 } })
    expect(data(fresh[1])).toMatchObject({ seq: 3, closed: true })
    const resumed = await rest(await SseReader.open(`${url}/v1/live/${name}?after=1`))
    expect(resumed.map((e) => [e.event, e.id])).toEqual([
      ['entry', '2'],
      ['bound', '2'],
      ['entry', '3'],
      ['bound', '3'],
    ])
    // The end at 3 is told once, as the final bound.
    expect(data(resumed[3])).toMatchObject({ closed: true })
  })

  test('on the multiplexed /v1/live a closed stream ends alone; the connection ends with the last open one', async ({ serve }) => {
    const { url } = await serve({ clockMs: 100_000 })
    const a = await createStateStream(url, 'multi/a')
    const b = await createStateStream(url, 'multi/b')
    const reader = await SseReader.open(`${url}/v1/live?stream=${a}&stream=${b}`)
    await reader.waitFor((e) => e.event === 'window' && (data(e) as { stream: string }).stream === b)
    await close(url, a)
    expect(data(await reader.waitFor((e) => e.event === 'bound'))).toMatchObject({ stream: a, closed: true })
    await append(url, b, '{"merge":{"b":1}}')
    expect(data(await reader.waitFor((e) => e.event === 'entry'))).toMatchObject({ stream: b, seq: 1 })
    expect(reader.done).toBe(false)
    await close(url, b)
    const events = await rest(reader)
    expect(events.filter((e) => e.event === 'bound').map(data)).toEqual([{ stream: b, seq: 1, ts: expect.any(Number), closed: true }])
  })
})

describe('/v1/live/<name> on a fork', () => {
  test('starts with its window of inherited entries and carries the fork’s own appends, not its source’s', async ({ serve }) => {
    const { url } = await serve()
    const source = await createStateStream(url, 'fork/src', 100)
    for (let i = 1; i <= 3; i++) await append(url, source, JSON.stringify({ merge: { i } }))
    await fork(url, 'fork/f', source, '0000000000000002')
    const reader = await SseReader.open(`${url}/v1/live/fork/f`)
    const window = await reader.next()
    expect(window.event).toBe('window')
    expect(data(window)).toMatchObject({ stream: 'fork/f', start: { seq: 0 }, entries: [{ seq: 1 }, { seq: 2 }], end: null })
    await append(url, source, '{"merge":{"source":true}}')
    await append(url, 'fork/f', '{"merge":{"fork":true}}')
    const entry = await reader.waitFor((e) => e.event === 'entry')
    expect(data(entry)).toMatchObject({ seq: 3, m: { merge: { fork: true } } })
    // Resuming inside the inherited range replays the source's entries as the fork's.
    const resumed = await SseReader.open(`${url}/v1/live/fork/f?after=1`)
    const replay = [await resumed.next(), await resumed.next()]
    expect(replay.map((e) => [e.id, data(e)])).toEqual([
      ['2', { seq: 2, ts: expect.any(Number), m: { merge: { i: 2 } } }],
      ['3', { seq: 3, ts: expect.any(Number), m: { merge: { fork: true } } }],
    ])
    reader.close()
    resumed.close()
  })
})
