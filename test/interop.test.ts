/**
 * Interop: the official Durable Streams client (`@durable-streams/client`, pinned) against this
 * server over real HTTP — create, append, an `IdempotentProducer` to its `close()`, catch-up,
 * long-poll and SSE tails to the stream's end, a fork read through it, and a state stream written
 * and read as a Durable Stream.
 */
import { DurableStream, IdempotentProducer, stream } from '@durable-streams/client'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test, getJson } from './support/live-server.ts'

type Event = { n: number }

/** Reads the JSON items of `url` from `offset` until the stream says it is closed. */
async function readToEnd(url: string, live: 'long-poll' | 'sse', offset?: string): Promise<Event[]> {
  const response = await stream<Event>({ url, live, ...(offset !== undefined && { offset }) })
  const items: Event[] = []
  await new Promise<void>((resolve, reject) => {
    response.subscribeJson(async (batch) => {
      items.push(...batch.items)
      if (batch.streamClosed) resolve()
    })
    // The session may end before its last batch reaches the subscriber: that batch says the end.
    response.closed.catch(reject)
  })
  return items
}

describe('@durable-streams/client against this server', () => {
  test('create, append, and a catch-up read', async ({ serve }) => {
    const { url } = await serve()
    const handle = await DurableStream.create({ url: `${url}/v1/stream/interop/basic`, contentType: 'application/json' })
    // Each append is one message (the client sends it as a one-element array).
    for (let n = 1; n <= 3; n++) await handle.append(JSON.stringify({ n }))
    const response = await handle.stream<Event>({ live: false })
    expect(await response.json()).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }])
    const head = await handle.head()
    expect(head).toMatchObject({ exists: true, offset: '0000000000000003' })
  })

  test('an IdempotentProducer’s batches are stored once each, and its close() ends the stream for long-poll and SSE readers', async ({ serve }) => {
    const { url } = await serve({ longPollTimeoutMs: 500 })
    const streamUrl = `${url}/v1/stream/interop/producer`
    const handle = await DurableStream.create({ url: streamUrl, contentType: 'application/json' })
    // Tails from the start, opened before anything is written: they see it all arrive live.
    const longPoll = readToEnd(streamUrl, 'long-poll')
    const sse = readToEnd(streamUrl, 'sse')
    const errors: unknown[] = []
    const producer = new IdempotentProducer(handle, 'interop-writer', { onError: (error) => errors.push(error) })
    for (let n = 1; n <= 50; n++) producer.append(JSON.stringify({ n }))
    await producer.flush()
    const closed = await producer.close(JSON.stringify({ n: 51 }))
    expect(errors).toEqual([])
    expect(closed.finalOffset).toBe('0000000000000051')
    const expected = Array.from({ length: 51 }, (_, i) => ({ n: i + 1 }))
    expect(await longPoll).toEqual(expected)
    expect(await sse).toEqual(expected)
    const head = await request(streamUrl, { method: 'HEAD' })
    await head.body.dump()
    expect(head.headers['stream-closed']).toBe('true')
    // A closed stream refuses more (409 with Stream-Closed); closing it again is fine.
    await expect(handle.append(JSON.stringify({ n: 52 }))).rejects.toMatchObject({ status: 409, headers: { 'stream-closed': 'true' } })
    await expect(handle.close()).resolves.toMatchObject({ finalOffset: '0000000000000051' })
  })

  test('catch-up from an offset, then a live tail that ends at DurableStream.close()', async ({ serve }) => {
    const { url } = await serve({ longPollTimeoutMs: 500 })
    const streamUrl = `${url}/v1/stream/interop/tail`
    const handle = await DurableStream.create({ url: streamUrl, contentType: 'application/json', body: JSON.stringify([{ n: 1 }, { n: 2 }]) })
    const tail = readToEnd(streamUrl, 'sse', '0000000000000001')
    await handle.append(JSON.stringify({ n: 3 }))
    await handle.close()
    expect(await tail).toEqual([{ n: 2 }, { n: 3 }])
  })

  test('a fork reads through to its source up to the fork point, then its own appends', async ({ serve }) => {
    const { url } = await serve()
    const source = await DurableStream.create({ url: `${url}/v1/stream/interop/source`, contentType: 'application/json' })
    for (let n = 1; n <= 4; n++) await source.append(JSON.stringify({ n }))
    const put = await request(`${url}/v1/stream/interop/fork`, {
      method: 'PUT',
      headers: { 'stream-forked-from': '/v1/stream/interop/source', 'stream-fork-offset': '0000000000000002' },
    })
    await put.body.dump()
    expect(put.statusCode).toBe(201)
    const fork = await DurableStream.connect({ url: `${url}/v1/stream/interop/fork` })
    expect(fork.contentType).toBe('application/json')
    await fork.append(JSON.stringify({ n: 20 }))
    await source.append(JSON.stringify({ n: 5 }))
    expect(await (await fork.stream<Event>({ live: false })).json()).toEqual([{ n: 1 }, { n: 2 }, { n: 20 }])
    expect(await (await source.stream<Event>({ live: false })).json()).toEqual([1, 2, 3, 4, 5].map((n) => ({ n })))
  })

  test('a state stream is a Durable Stream of mutations: the client writes them, the history routes read the state', async ({ serve }) => {
    const { url } = await serve()
    const create = await request(`${url}/v1/stream/interop/state`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
    await create.body.dump()
    const handle = await DurableStream.connect({ url: `${url}/v1/stream/interop/state` })
    const producer = new IdempotentProducer(handle, 'state-writer')
    producer.append(JSON.stringify({ set: { count: 0 } }))
    for (let i = 1; i <= 5; i++) producer.append(JSON.stringify({ merge: { count: i } }))
    await producer.flush()
    expect((await getJson(url, '/v1/state/interop/state')).body).toMatchObject({ seq: 6, state: { count: 5 } })
    // Read back, each message is its mutation with the time the server gave it.
    const messages = await (await handle.stream<{ merge?: unknown; ts: number }>({ live: false })).json()
    expect(messages).toHaveLength(6)
    expect(messages[5]).toMatchObject({ merge: { count: 5 }, ts: expect.any(Number) })
  })
})
