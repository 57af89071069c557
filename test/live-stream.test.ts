/**
 * The Durable Streams live modes of `/v1/stream/<name>` (protocol §5.6 long-poll, §5.7 SSE, §6
 * offsets, §8.1 cursors) on plain and state streams, over real HTTP.
 */
import { liveCursor } from '@statestream/server'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { liveTest as test, append, createPlainStream, createStateStream, deleteStream, sleep } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'

/** A long-poll (or any) GET: status, the Stream-* headers, the body text. */
async function get(url: string, path: string) {
  const response = await request(`${url}${path}`)
  const header = (name: string) => response.headers[name] as string | undefined
  return {
    status: response.statusCode,
    next: header('stream-next-offset'),
    upToDate: header('stream-up-to-date'),
    cursor: header('stream-cursor'),
    etag: header('etag'),
    body: await response.body.text(),
  }
}

const offset = (seq: number) => String(seq).padStart(16, '0')
const CURSOR_EPOCH = Date.UTC(2024, 9, 9)

describe('live=long-poll', () => {
  test('answers at once when there is data after the offset, with a cursor', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'lp/data', 'application/json')
    await append(url, 'lp/data', '[{"a":1},{"a":2}]')
    const answer = await get(url, '/v1/stream/lp/data?offset=-1&live=long-poll')
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual([{ a: 1 }, { a: 2 }])
    expect(answer.next).toBe(offset(2))
    expect(answer.upToDate).toBe('true')
    expect(answer.cursor).toMatch(/^\d+$/)
    expect(answer.etag).toBeDefined()
  })

  test.for([
    ['at the tail offset', (head: number) => offset(head)],
    ['at offset=now', () => 'now'],
  ] as const)('%s it waits, then answers with only the new data', async ([, from], { serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'lp/wait', 'application/json')
    await append(url, 'lp/wait', '{"old":true}')
    const pending = get(url, `/v1/stream/lp/wait?offset=${from(1)}&live=long-poll`)
    await sleep(150)
    await append(url, 'lp/wait', '[{"new":1},{"new":2}]')
    const answer = await pending
    expect(answer.status).toBe(200)
    expect(JSON.parse(answer.body)).toEqual([{ new: 1 }, { new: 2 }])
    expect(answer.next).toBe(offset(3))
    expect(answer.upToDate).toBe('true')
    expect(answer.cursor).toMatch(/^\d+$/)
  })

  test('times out with 204, the tail offset, up-to-date and a cursor', async ({ serve }) => {
    const { url } = await serve({ longPollTimeoutMs: 300 })
    await createPlainStream(url, 'lp/idle', 'text/plain')
    await append(url, 'lp/idle', 'x', 'text/plain')
    for (const from of [offset(1), 'now']) {
      const answer = await get(url, `/v1/stream/lp/idle?offset=${from}&live=long-poll`)
      expect(answer.status).toBe(204)
      expect(answer.body).toBe('')
      expect(answer.next).toBe(offset(1))
      expect(answer.upToDate).toBe('true')
      expect(answer.cursor).toMatch(/^\d+$/)
    }
  })

  test('a cursor echoed within its interval comes back strictly greater', async ({ serve }) => {
    const { url } = await serve({ longPollTimeoutMs: 100 })
    await createPlainStream(url, 'lp/cursor', 'application/json')
    const first = await get(url, '/v1/stream/lp/cursor?offset=now&live=long-poll')
    const second = await get(url, `/v1/stream/lp/cursor?offset=now&live=long-poll&cursor=${first.cursor}`)
    expect(Number(second.cursor)).toBeGreaterThan(Number(first.cursor))
  })

  test('on a state stream, messages carry their ts', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'lp/state')
    const pending = get(url, '/v1/stream/lp/state?offset=now&live=long-poll')
    await sleep(100)
    await append(url, 'lp/state', '{"merge":{"t":1}}')
    const answer = await pending
    const [message] = JSON.parse(answer.body) as Array<{ merge: unknown; ts: number }>
    expect(message?.merge).toEqual({ t: 1 })
    expect(message?.ts).toEqual(expect.any(Number))
  })

  test('a waiter on a stream that is deleted gets 404', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'lp/gone', 'application/json')
    const pending = get(url, '/v1/stream/lp/gone?offset=now&live=long-poll')
    await sleep(100)
    await deleteStream(url, 'lp/gone')
    const answer = await pending
    expect(answer.status).toBe(404)
    expect(JSON.parse(answer.body).error.code).toBe('STREAM_NOT_FOUND')
  })

  test('clients that give up release their waiters and timers', async ({ serve, engine }) => {
    const { url } = await serve({ longPollTimeoutMs: 60_000 })
    await createPlainStream(url, 'lp/abort', 'application/json')
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length
    const before = timers()
    const controllers = Array.from({ length: 20 }, () => new AbortController())
    const polls = controllers.map((controller) =>
      request(`${url}/v1/stream/lp/abort?offset=now&live=long-poll`, { signal: controller.signal }).catch(() => 'aborted'),
    )
    // On PostgreSQL the engine's own timers (a statement's timeout, an idle pooled connection's)
    // come and go by the dozen as the polls' lookups run, so a count says nothing there; the
    // waiters are the live side's, the same on both engines, and are counted on SQLite.
    const counted = engine !== 'postgres'
    // Wait until the server holds the twenty (a timer each), then let every client go. Other
    // timers of the process come and go meanwhile: allow a couple either way.
    for (let i = 0; counted && i < 1000 && timers() < before + 18; i++) await sleep(20)
    const held = timers()
    if (counted) expect(held).toBeGreaterThanOrEqual(before + 18)
    for (const controller of controllers) controller.abort()
    expect(await Promise.all(polls)).toEqual(Array(20).fill('aborted'))
    // Released: a leak would keep all twenty. Other timers of the process come and go meanwhile:
    // allow a few.
    if (counted) {
      for (let i = 0; i < 1000 && timers() > held - 15; i++) await sleep(20)
      expect(timers()).toBeLessThanOrEqual(held - 15)
    }
    // And the stream still serves the next reader normally.
    await append(url, 'lp/abort', '{"after":1}')
    expect(JSON.parse((await get(url, '/v1/stream/lp/abort?offset=-1&live=long-poll')).body)).toEqual([{ after: 1 }])
  })
})

describe('live=sse', () => {
  test('JSON stream: data events are arrays of messages, each followed by a control event', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'sse/json', 'application/json')
    await append(url, 'sse/json', '[{"m":1},{"m":2}]')
    const reader = await SseReader.open(`${url}/v1/stream/sse/json?offset=-1&live=sse`)
    expect(reader.status).toBe(200)
    expect(reader.headers['content-type']).toMatch(/^text\/event-stream/)

    const data = await reader.next()
    expect(data.event).toBe('data')
    expect(JSON.parse(data.data)).toEqual([{ m: 1 }, { m: 2 }])
    const control = await reader.next()
    expect(control.event).toBe('control')
    expect(JSON.parse(control.data)).toEqual({ streamNextOffset: offset(2), streamCursor: expect.stringMatching(/^\d+$/), upToDate: true })

    await append(url, 'sse/json', '{"m":3}')
    expect(JSON.parse((await reader.next()).data)).toEqual([{ m: 3 }])
    const next = JSON.parse((await reader.next()).data) as { streamNextOffset: string }
    expect(next.streamNextOffset).toBe(offset(3))
    reader.close()

    // Reconnecting from the last control offset repeats nothing.
    await append(url, 'sse/json', '{"m":4}')
    const again = await SseReader.open(`${url}/v1/stream/sse/json?offset=${next.streamNextOffset}&live=sse`)
    expect(JSON.parse((await again.next()).data)).toEqual([{ m: 4 }])
    again.close()
  })

  test('text stream: data is the text, line by line', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'sse/text', 'text/plain; charset=utf-8')
    await append(url, 'sse/text', 'one\ntwo', 'text/plain; charset=utf-8')
    const reader = await SseReader.open(`${url}/v1/stream/sse/text?offset=-1&live=sse`)
    const data = await reader.next()
    expect(data.event).toBe('data')
    expect(data.data).toBe('one\ntwo')
    expect(JSON.parse((await reader.next()).data).streamNextOffset).toBe(offset(1))
    reader.close()
  })

  test('offset=now starts at the tail: a first control event, up to date, and no data', async ({ serve }) => {
    const { url } = await serve()
    await createStateStream(url, 'sse/now')
    await append(url, 'sse/now', '{"set":{"v":1}}')
    const reader = await SseReader.open(`${url}/v1/stream/sse/now?offset=now&live=sse`)
    const control = await reader.next()
    expect(control.event).toBe('control')
    expect(JSON.parse(control.data)).toMatchObject({ streamNextOffset: offset(1), upToDate: true })
    await append(url, 'sse/now', '{"merge":{"v":2}}')
    const data = JSON.parse((await reader.next()).data) as Array<{ merge: unknown; ts: number }>
    expect(data).toEqual([{ merge: { v: 2 }, ts: expect.any(Number) }])
    reader.close()
  })

  test('the server ends a connection after sseMaxMs, cleanly', async ({ serve }) => {
    const { url } = await serve({ sseMaxMs: 300 })
    await createPlainStream(url, 'sse/max', 'application/json')
    const reader = await SseReader.open(`${url}/v1/stream/sse/max?offset=-1&live=sse`)
    const control = JSON.parse((await reader.next()).data) as { streamNextOffset: string }
    expect(control.streamNextOffset).toBe(offset(0))
    expect((await reader.waitEnd()).error).toBeUndefined()
  })

  test('a stream that is neither JSON nor text is sent as base64, said by a header; control events stay JSON', async ({ serve }) => {
    const { url } = await serve()
    await createPlainStream(url, 'sse/bytes', 'application/octet-stream')
    const bytes = Buffer.from([0, 1, 2, 0xfe, 0xff, 10, 13])
    const put = await request(`${url}/v1/stream/sse/bytes`, { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: bytes })
    expect(put.statusCode).toBe(204)
    await put.body.dump()
    const reader = await SseReader.open(`${url}/v1/stream/sse/bytes?offset=-1&live=sse`)
    expect(reader.status).toBe(200)
    expect(reader.headers['stream-sse-data-encoding']).toBe('base64')
    const first = await reader.next()
    expect(first.event).toBe('data')
    expect(Buffer.from(first.data, 'base64')).toEqual(bytes)
    expect(JSON.parse((await reader.next()).data)).toMatchObject({ streamNextOffset: offset(1), upToDate: true })
    // A live append arrives encoded the same way.
    await append(url, 'sse/bytes', 'xyz', 'application/octet-stream')
    const live = await reader.next()
    expect([live.event, Buffer.from(live.data, 'base64').toString()]).toEqual(['data', 'xyz'])
    reader.close()
  })
})

describe('liveCursor (protocol §8.1)', () => {
  const now = CURSOR_EPOCH + 1000 * 20_000 + 5_000 // interval 1000
  test.for([
    ['no client cursor: the current interval', undefined, 0.5, '1000'],
    ['an older cursor: the current interval', '999', 0.5, '1000'],
    ['not a number: the current interval', 'abc', 0.5, '1000'],
    ['the current interval: jitter of at least one interval', '1000', 0, '1001'],
    ['the current interval, largest jitter: 3600 s later', '1000', 0.99999, '1180'],
    ['a cursor ahead of the interval: still strictly greater', '5000', 0, '5001'],
  ] as const)('%s', ([, client, random, expected]) => {
    expect(liveCursor(now, client, () => random)).toBe(expected)
  })
})
