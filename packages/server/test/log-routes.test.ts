/**
 * `/v1/stream/<name>`: the Durable Streams protocol — create, append, catch-up reads, HEAD,
 * DELETE, idempotent producers, Stream-Seq — for plain byte streams, plain JSON streams and
 * state streams.
 */
import { DEFAULT_SNAPSHOT_POLICY } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import { createState, expectError, offset, post, stateHeaders, test } from './support.ts'

function put(app: FastifyInstance, name: string, headers: Record<string, string>, payload?: string | Buffer) {
  return app.inject({ method: 'PUT', url: `/v1/stream/${name}`, headers, ...(payload !== undefined && { payload }) })
}

function send(app: FastifyInstance, name: string, contentType: string, payload: string | Buffer, headers: Record<string, string> = {}) {
  return app.inject({ method: 'POST', url: `/v1/stream/${name}`, headers: { 'content-type': contentType, ...headers }, payload })
}

function read(app: FastifyInstance, name: string, from = '-1', headers: Record<string, string> = {}) {
  return app.inject({ url: `/v1/stream/${name}?offset=${from}`, headers })
}

describe('create', () => {
  test('PUT answers 201 with Location and the next offset, then 200 for the same configuration', async ({ app }) => {
    const created = await put(app, 'a/b', { 'content-type': 'text/plain' })
    expect(created.statusCode).toBe(201)
    expect(new URL(created.headers.location as string).pathname).toBe('/v1/stream/a/b')
    expect(created.headers['stream-next-offset']).toBe(offset(0))
    const again = await put(app, 'a/b', { 'content-type': 'text/plain; charset=utf-8' })
    expect(again.statusCode).toBe(200)
    expect(again.headers['stream-next-offset']).toBe(offset(0))
  })

  test.for([
    ['another content type', { 'content-type': 'application/json' }],
    ['state kind on a plain stream', stateHeaders()],
    ['a TTL the stream does not have', { 'content-type': 'text/plain', 'stream-ttl': '60' }],
  ] as const)('PUT with %s is a 409 STREAM_CONFLICT and changes nothing', async ([, headers], { app }) => {
    await put(app, 's', { 'content-type': 'text/plain' })
    await send(app, 's', 'text/plain', 'kept')
    expectError(await put(app, 's', headers), 'STREAM_CONFLICT')
    const res = await read(app, 's')
    expect(res.body).toBe('kept')
    expect(res.headers['content-type']).toMatch(/^text\/plain/)
  })

  test('a plain JSON stream re-PUT as a state stream is a conflict', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' })
    expectError(await put(app, 'j', stateHeaders()), 'STREAM_CONFLICT')
  })

  test('a PUT body is the first content', async ({ app }) => {
    const res = await put(app, 't', { 'content-type': 'text/plain' }, 'hello')
    expect(res.statusCode).toBe(201)
    expect(res.headers['stream-next-offset']).toBe(offset(1))
    expect((await read(app, 't')).body).toBe('hello')
    const json = await put(app, 'j', { 'content-type': 'application/json' }, '[1, {"a": 2}]')
    expect(json.headers['stream-next-offset']).toBe(offset(2))
    expect((await read(app, 'j')).json()).toEqual([1, { a: 2 }])
    // An empty array creates an empty JSON stream.
    expect((await put(app, 'e', { 'content-type': 'application/json' }, '[]')).statusCode).toBe(201)
    expect((await read(app, 'e')).body).toBe('[]')
  })
})

describe('append', () => {
  test('POST answers 204 with the new next offset', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    const first = await send(app, 't', 'text/plain', 'a')
    expect(first.statusCode).toBe(204)
    expect(first.body).toBe('')
    expect(first.headers['stream-next-offset']).toBe(offset(1))
    expect((await send(app, 't', 'text/plain', 'b')).headers['stream-next-offset']).toBe(offset(2))
  })

  test('a JSON array is flattened one level into messages; nested arrays stay messages', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' })
    expect((await send(app, 'j', 'application/json', '[1, "two", {"three": 3}]')).headers['stream-next-offset']).toBe(offset(3))
    expect((await send(app, 'j', 'application/json', '[[4, 5]]')).headers['stream-next-offset']).toBe(offset(4))
    expect((await send(app, 'j', 'application/json', '{"six": 6}')).headers['stream-next-offset']).toBe(offset(5))
    expect((await read(app, 'j')).json()).toEqual([1, 'two', { three: 3 }, [4, 5], { six: 6 }])
    expect((await read(app, 'j', offset(3))).json()).toEqual([[4, 5], { six: 6 }])
  })

  test.for([
    ['an empty JSON array', 'application/json', 'j', '[]'],
    ['an empty JSON body', 'application/json', 'j', ''],
    ['an empty byte body', 'text/plain', 't', ''],
  ] as const)('%s is a 400 and stores nothing', async ([, type, name, payload], { app }) => {
    await put(app, 'j', { 'content-type': 'application/json' }, '[1]')
    await put(app, 't', { 'content-type': 'text/plain' }, 'x')
    expectError(await send(app, name, type, payload), 'EMPTY_BODY')
    expect((await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })).headers['stream-next-offset']).toBe(offset(1))
  })

  test('a plain JSON stream takes any JSON, uninterpreted; a state stream only mutations', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' })
    await createState(app, 's')
    const message = '{"foo": 1, "patch": "not really"}'
    expect((await send(app, 'j', 'application/json', message)).statusCode).toBe(204)
    expect((await read(app, 'j')).json()).toEqual([{ foo: 1, patch: 'not really' }])
    expectError(await send(app, 's', 'application/json', message), 'INVALID_MUTATION')
  })

  test.for([
    ['text to a JSON stream', 'j', 'text/plain', 'x'],
    ['JSON to a text stream', 't', 'application/json', '1'],
    ['bytes to a state stream', 's', 'application/octet-stream', '{"merge":{}}'],
  ] as const)('%s is a 409 CONTENT_TYPE_MISMATCH', async ([, name, type, payload], { app }) => {
    await put(app, 'j', { 'content-type': 'application/json' })
    await put(app, 't', { 'content-type': 'text/plain' })
    await createState(app, 's')
    expectError(await send(app, name, type, payload), 'CONTENT_TYPE_MISMATCH')
  })

  test('media type parameters and case do not matter when matching', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' })
    expect((await send(app, 'j', 'Application/JSON; charset=utf-8', '1')).statusCode).toBe(204)
  })

  test('a POST without Content-Type is a 400', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    const res = await app.inject({ method: 'POST', url: '/v1/stream/t', payload: Buffer.from('x') })
    expect(res.statusCode).toBe(400)
    expect((await read(app, 't')).body).toBe('')
  })

  test('Stream-Seq must increase (lexicographically): equal or lower is a 409', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    expect((await send(app, 't', 'text/plain', 'a', { 'stream-seq': '0002' })).statusCode).toBe(204)
    expectError(await send(app, 't', 'text/plain', 'b', { 'stream-seq': '0002' }), 'STREAM_SEQ_REGRESSION')
    expectError(await send(app, 't', 'text/plain', 'b', { 'stream-seq': '0001' }), 'STREAM_SEQ_REGRESSION')
    expect((await send(app, 't', 'text/plain', 'c', { 'stream-seq': '0010' })).statusCode).toBe(204)
    // Without the header an append is not checked.
    expect((await send(app, 't', 'text/plain', 'd')).statusCode).toBe(204)
    expectError(await send(app, 't', 'text/plain', 'e', { 'stream-seq': '0009' }), 'STREAM_SEQ_REGRESSION')
    expect((await read(app, 't')).body).toBe('acd')
  })
})

describe('idempotent producers', () => {
  const producer = (epoch: number, seq: number) => ({ 'producer-id': 'p1', 'producer-epoch': String(epoch), 'producer-seq': String(seq) })

  test('new 200, duplicate 204 (stored once), gap 409 with Producer-Expected-Seq, stale epoch 403', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    const first = await send(app, 't', 'text/plain', 'a', producer(0, 0))
    expect(first.statusCode).toBe(200)
    expect(first.headers['producer-epoch']).toBe('0')
    expect(first.headers['producer-seq']).toBe('0')
    expect(first.headers['stream-next-offset']).toBe(offset(1))

    const retry = await send(app, 't', 'text/plain', 'a', producer(0, 0))
    expect(retry.statusCode).toBe(204)
    expect(retry.headers['stream-next-offset']).toBe(offset(1))

    const gap = await send(app, 't', 'text/plain', 'c', producer(0, 2))
    expectError(gap, 'PRODUCER_SEQ_GAP')
    expect(gap.headers['producer-expected-seq']).toBe('1')
    expect(gap.headers['producer-received-seq']).toBe('2')

    expect((await send(app, 't', 'text/plain', 'b', producer(0, 1))).statusCode).toBe(200)
    // A new epoch (a restarted producer) starts again at seq 0 and fences the old one.
    expect((await send(app, 't', 'text/plain', 'x', producer(1, 0))).statusCode).toBe(200)
    const stale = await send(app, 't', 'text/plain', 'zombie', producer(0, 2))
    expectError(stale, 'PRODUCER_STALE_EPOCH')
    expect(stale.headers['producer-epoch']).toBe('1')
    expect((await read(app, 't')).body).toBe('abx')
  })

  test('producers are independent of each other and per stream', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    await put(app, 'u', { 'content-type': 'text/plain' })
    expect((await send(app, 't', 'text/plain', 'a', producer(0, 0))).statusCode).toBe(200)
    expect((await send(app, 'u', 'text/plain', 'b', producer(0, 0))).statusCode).toBe(200)
    expect((await send(app, 't', 'text/plain', 'c', { ...producer(0, 0), 'producer-id': 'p2' })).statusCode).toBe(200)
    expect((await read(app, 't')).body).toBe('ac')
  })

  test('a duplicate of a state-stream batch stores nothing again', async ({ app }) => {
    await createState(app, 's')
    const batch = JSON.stringify([{ merge: { n: 1 } }, { merge: { m: 2 } }])
    expect((await send(app, 's', 'application/json', batch, producer(0, 0))).statusCode).toBe(200)
    expect((await send(app, 's', 'application/json', batch, producer(0, 0))).statusCode).toBe(204)
    expect((await app.inject({ url: '/v1/state/s' })).json()).toMatchObject({ seq: 2 })
  })

  test('a rejected batch does not advance the producer: its retry is not a duplicate', async ({ app }) => {
    await createState(app, 's')
    const bad = JSON.stringify({ patch: [{ op: 'remove', path: '/missing' }] })
    expectError(await send(app, 's', 'application/json', bad, producer(0, 0)), 'MUTATION_FAILED')
    const good = JSON.stringify({ merge: { ok: true } })
    expect((await send(app, 's', 'application/json', good, producer(0, 0))).statusCode).toBe(200)
    expect((await app.inject({ url: '/v1/state/s' })).json()).toEqual(expect.objectContaining({ seq: 1, state: { ok: true } }))
  })

  test.for([
    ['only Producer-Id', { 'producer-id': 'p' }],
    ['a non-numeric epoch', { 'producer-id': 'p', 'producer-epoch': 'x', 'producer-seq': '0' }],
    ['a negative seq', { 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '-1' }],
    ['an empty id', { 'producer-id': '', 'producer-epoch': '0', 'producer-seq': '0' }],
  ] as const)('%s is a 400', async ([, headers], { app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    expectError(await send(app, 't', 'text/plain', 'a', headers), 'INVALID_PARAMETER')
    expect((await read(app, 't')).body).toBe('')
  })
})

describe('catch-up reads', () => {
  test('reads from -1, a mid offset and the tail, with Stream-Next-Offset and Stream-Up-To-Date', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    for (const part of ['ab', 'cd', 'ef']) await send(app, 't', 'text/plain', part)
    const all = await read(app, 't')
    expect(all.statusCode).toBe(200)
    expect(all.body).toBe('abcdef')
    expect(all.headers['content-type']).toMatch(/^text\/plain/)
    expect(all.headers['stream-next-offset']).toBe(offset(3))
    expect(all.headers['stream-up-to-date']).toBe('true')
    expect((await read(app, 't', offset(1))).body).toBe('cdef')
    const tail = await read(app, 't', offset(3))
    expect(tail.statusCode).toBe(200)
    expect(tail.body).toBe('')
    expect(tail.headers['stream-next-offset']).toBe(offset(3))
    expect(tail.headers['stream-up-to-date']).toBe('true')
    // No offset means the start.
    expect((await app.inject({ url: '/v1/stream/t' })).body).toBe('abcdef')
  })

  test('offsets sort lexicographically in log order', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    const offsets: string[] = []
    for (let i = 0; i < 12; i++) offsets.push((await send(app, 't', 'text/plain', String(i))).headers['stream-next-offset'] as string)
    expect([...offsets].sort()).toEqual(offsets)
  })

  test('a read larger than the chunk size comes in pieces; only the last is up to date', async ({ makeApp }) => {
    const app = await makeApp({ readChunkBytes: 10 })
    await put(app, 't', { 'content-type': 'text/plain' })
    for (let i = 0; i < 5; i++) await send(app, 't', 'text/plain', `part-${i}|`)
    let from = '-1'
    let body = ''
    let reads = 0
    for (;;) {
      const res = await read(app, 't', from)
      reads++
      body += res.body
      from = res.headers['stream-next-offset'] as string
      if (res.headers['stream-up-to-date'] === 'true') break
      expect(reads).toBeLessThan(10)
    }
    expect(reads).toBeGreaterThan(1)
    expect(body).toBe('part-0|part-1|part-2|part-3|part-4|')
  })

  test('bytes come back exactly as sent', async ({ app }) => {
    await put(app, 'bin', { 'content-type': 'application/octet-stream' })
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
    await send(app, 'bin', 'application/octet-stream', bytes)
    await send(app, 'bin', 'application/octet-stream', Buffer.from([0, 0xff, 0x0a, 0x0d]))
    const res = await read(app, 'bin')
    expect(res.rawPayload.equals(Buffer.concat([bytes, Buffer.from([0, 0xff, 0x0a, 0x0d])]))).toBe(true)
  })

  test('a catch-up read has an ETag and answers 304 to If-None-Match until the stream grows', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' }, 'a')
    const first = await read(app, 't')
    const etag = first.headers.etag as string
    expect(etag).toMatch(/^"[^"]+"$/)
    const same = await read(app, 't', '-1', { 'if-none-match': etag })
    expect(same.statusCode).toBe(304)
    expect(same.body).toBe('')
    await send(app, 't', 'text/plain', 'b')
    const grown = await read(app, 't', '-1', { 'if-none-match': etag })
    expect(grown.statusCode).toBe(200)
    expect(grown.body).toBe('ab')
  })

  test('If-None-Match is compared weakly and may be a list or `*` (RFC 9110 §13.1.2)', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' }, 'a')
    const etag = (await read(app, 't')).headers.etag as string
    const cases: Array<[string, number]> = [
      [`W/${etag}`, 304],
      [`"x", ${etag}`, 304],
      [`${etag},"x"`, 304],
      ['*', 304],
      ['"x", "y"', 200],
      [etag.slice(1, -1), 200],
    ]
    for (const [condition, status] of cases) {
      const res = await read(app, 't', '-1', { 'if-none-match': condition })
      expect(res.statusCode, condition).toBe(status)
      expect(res.headers.etag, condition).toBe(etag)
    }
    // The tail (offset=now) has no tag; `*` still finds a current representation.
    expect((await read(app, 't', 'now', { 'if-none-match': etag })).statusCode).toBe(200)
    const tail = await read(app, 't', 'now', { 'if-none-match': '*' })
    expect(tail.statusCode).toBe(304)
    expect(tail.headers['stream-next-offset']).toBe(offset(1))
    expect(tail.headers['cache-control']).toBe('no-store')
  })

  test('a deleted and re-created stream does not match the old ETags', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' }, 'old')
    const old = await read(app, 't')
    await app.inject({ method: 'DELETE', url: '/v1/stream/t' })
    await put(app, 't', { 'content-type': 'text/plain' }, 'new')
    const fresh = await read(app, 't', '-1', { 'if-none-match': old.headers.etag as string })
    expect(fresh.statusCode).toBe(200)
    expect(fresh.body).toBe('new')
  })

  test('offset=now answers the tail: no data, up to date', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' }, '[1,2]')
    const res = await read(app, 'j', 'now')
    expect(res.statusCode).toBe(200)
    expect(res.json()).toEqual([])
    expect(res.headers['stream-next-offset']).toBe(offset(2))
    expect(res.headers['stream-up-to-date']).toBe('true')
    await put(app, 't', { 'content-type': 'text/plain' }, 'x')
    expect((await read(app, 't', 'now')).body).toBe('')
  })

  test('a read carries the stream content type exactly as created', async ({ app }) => {
    await put(app, 'j', { 'content-type': 'application/json' }, '{"a":1}')
    const res = await read(app, 'j')
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.json()).toEqual([{ a: 1 }])
    expect((await read(app, 'j', 'now')).headers['content-type']).toBe('application/json')
    await put(app, 't', { 'content-type': 'text/plain' }, 'x')
    expect((await read(app, 't')).headers['content-type']).toBe('text/plain')
  })

  test('a chunk that was the tail is not confirmed by 304 once the stream has grown past it', async ({ makeApp }) => {
    const app = await makeApp({ readChunkBytes: 4 })
    await put(app, 't', { 'content-type': 'text/plain' }, 'abcd')
    const tail = await read(app, 't')
    expect(tail.headers['stream-up-to-date']).toBe('true')
    await send(app, 't', 'text/plain', 'efgh')
    const chunk = await read(app, 't', '-1', { 'if-none-match': tail.headers.etag as string })
    expect(chunk.statusCode).toBe(200)
    expect(chunk.body).toBe('abcd')
    expect(chunk.headers['stream-up-to-date']).toBeUndefined()
  })
})

describe('catch-up reads with a limit (a statestream extension)', () => {
  test('limit=n reads at most n messages: a bytes stream message by message, a JSON stream n at a time', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' })
    for (const part of ['ab', 'cd', 'ef']) await send(app, 't', 'text/plain', part)
    const messages: string[] = []
    for (let after = 0; after < 3; after++) {
      const one = await app.inject({ url: `/v1/stream/t?offset=${offset(after)}&limit=1` })
      expect(one.statusCode).toBe(200)
      expect(one.headers['stream-next-offset']).toBe(offset(after + 1))
      expect(one.headers['stream-up-to-date']).toBe(after === 2 ? 'true' : undefined)
      messages.push(one.body)
    }
    expect(messages).toEqual(['ab', 'cd', 'ef'])
    // A tag of its own: a limited read holds other bytes than a whole one from the same offset.
    const whole = await read(app, 't')
    const first = await app.inject({ url: '/v1/stream/t?offset=-1&limit=1' })
    expect(first.headers.etag).not.toBe(whole.headers.etag)

    await put(app, 'j', { 'content-type': 'application/json' }, JSON.stringify([1, 2, 3, 4, 5]))
    const two = await app.inject({ url: `/v1/stream/j?offset=${offset(1)}&limit=2` })
    expect(two.json()).toEqual([2, 3])
    expect(two.headers['stream-next-offset']).toBe(offset(3))
    expect((await app.inject({ url: `/v1/stream/j?offset=${offset(3)}&limit=99` })).json()).toEqual([4, 5])
  })

  test('a limit that is not a whole number of at least 1, or on a live read, is refused', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' }, 'ab')
    for (const limit of ['0', '-1', '1.5', 'abc', '']) {
      expectError(await app.inject({ url: `/v1/stream/t?offset=-1&limit=${limit}` }), 'INVALID_PARAMETER')
    }
    expectError(await app.inject({ url: '/v1/stream/t?offset=-1&limit=1&live=long-poll' }), 'INVALID_PARAMETER')
  })
})

describe('HEAD and DELETE', () => {
  test('HEAD reports the next offset and content type; a state stream its kind and snapshot policy', async ({ app }) => {
    await put(app, 't', { 'content-type': 'text/plain' }, 'abc')
    const plain = await app.inject({ method: 'HEAD', url: '/v1/stream/t' })
    expect(plain.statusCode).toBe(200)
    expect(plain.body).toBe('')
    expect(plain.headers['stream-next-offset']).toBe(offset(1))
    expect(plain.headers['content-type']).toMatch(/^text\/plain/)
    expect(plain.headers['stream-kind']).toBeUndefined()

    await createState(app, 's', { entries: 7, ms: 500 })
    const state = await app.inject({ method: 'HEAD', url: '/v1/stream/s' })
    expect(state.headers['stream-kind']).toBe('state')
    expect(state.headers['stream-snapshot-entries']).toBe('7')
    expect(state.headers['stream-snapshot-bytes']).toBe(String(DEFAULT_SNAPSHOT_POLICY.bytes))
    expect(state.headers['stream-snapshot-ms']).toBe('500')
  })

  test('the server defaults fill a policy the PUT does not give', async ({ makeApp }) => {
    const app = await makeApp({ snapshotPolicy: { entries: 3 } })
    await createState(app, 's')
    const head = await app.inject({ method: 'HEAD', url: '/v1/stream/s' })
    expect(head.headers['stream-snapshot-entries']).toBe('3')
    expect(head.headers['stream-snapshot-ms']).toBe(String(DEFAULT_SNAPSHOT_POLICY.ms))
    for (let i = 0; i < 4; i++) await post(app, 's', { merge: { i } })
    const windows = (await app.inject({ url: '/v1/windows/s' })).json<{ windows: Array<{ start: { seq: number } }> }>().windows
    expect(windows.map((w) => w.start.seq)).toEqual([0, 3])
  })

  test('DELETE answers 204; then every route answers 404 and the name is free', async ({ app }) => {
    await createState(app, 's', {}, { set: { a: 1 } })
    expect((await app.inject({ method: 'DELETE', url: '/v1/stream/s' })).statusCode).toBe(204)
    for (const [method, url] of [
      ['GET', '/v1/stream/s'],
      ['POST', '/v1/stream/s'],
      ['DELETE', '/v1/stream/s'],
      ['GET', '/v1/state/s'],
      ['GET', '/v1/window/s?at=now'],
      ['GET', '/v1/windows/s'],
    ] as const) {
      const res = await app.inject({
        method,
        url,
        headers: { 'content-type': 'application/json' },
        ...(method === 'POST' && { payload: '{"merge":{}}' }),
      })
      expectError(res, 'STREAM_NOT_FOUND')
    }
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/s' })).statusCode).toBe(404)
    await createState(app, 's')
    expect((await app.inject({ url: '/v1/state/s' })).json()).toMatchObject({ seq: 0, state: {} })
  })

  test('deleting one stream leaves the others alone', async ({ app }) => {
    await createState(app, 'a', {}, { set: { a: 1 } })
    await createState(app, 'a/b', {}, { set: { b: 1 } })
    await app.inject({ method: 'DELETE', url: '/v1/stream/a' })
    expect((await app.inject({ url: '/v1/state/a/b' })).json()).toMatchObject({ seq: 1, state: { b: 1 } })
  })
})

test('GET /health answers ok', async ({ app }) => {
  const res = await app.inject({ url: '/health' })
  expect(res.statusCode).toBe(200)
  expect(res.json()).toEqual({ status: 'ok' })
})

test('every response carries the browser security headers, errors included', async ({ app }) => {
  const responses = [
    await put(app, 't', { 'content-type': 'text/plain' }),
    await send(app, 't', 'text/plain', 'x'),
    await read(app, 't'),
    await app.inject({ method: 'HEAD', url: '/v1/stream/t' }),
    await read(app, 'missing'),
    await send(app, 't', 'application/json', '1'),
    await createState(app, 's'),
    await app.inject({ url: '/v1/state/s' }),
    await app.inject({ url: '/v1/window/s?at=now' }),
    await app.inject({ url: '/v1/window/s?at=garbage' }),
    await app.inject({ method: 'DELETE', url: '/v1/stream/t' }),
    // Outside the protocol's routes too: the probes, the inspector, a route that does not exist.
    await app.inject({ url: '/health' }),
    await app.inject({ url: '/ready' }),
    await app.inject({ url: '/metrics' }),
    await app.inject({ url: '/inspector/' }),
    await app.inject({ url: '/no/such/route' }),
  ]
  for (const res of responses) {
    expect(res.headers['x-content-type-options'], res.raw.req.url).toBe('nosniff')
    expect(res.headers['cross-origin-resource-policy'], res.raw.req.url).toBe('cross-origin')
  }
})

describe('expiry', () => {
  const T = 1_700_000_000_000

  test('Stream-TTL is a sliding window: each read or write restarts it, HEAD does not', async ({ app, clock }) => {
    clock.set(T)
    await put(app, 'r', { 'content-type': 'text/plain', 'stream-ttl': '10' }, 'x')
    await put(app, 'w', { 'content-type': 'text/plain', 'stream-ttl': '10' }, 'x')
    clock.set(T + 9_000)
    expect((await read(app, 'r')).statusCode).toBe(200)
    expect((await send(app, 'w', 'text/plain', 'y')).statusCode).toBe(204)
    clock.set(T + 18_999)
    for (const name of ['r', 'w']) {
      const head = await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })
      expect(head.statusCode).toBe(200)
      // HEAD reports the window, not the time left.
      expect(head.headers['stream-ttl']).toBe('10')
    }
    clock.set(T + 19_000)
    for (const name of ['r', 'w']) {
      expect((await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` })).statusCode).toBe(404)
      expectError(await read(app, name), 'STREAM_NOT_FOUND')
    }
    // The name is free again.
    expect((await put(app, 'r', { 'content-type': 'application/json' })).statusCode).toBe(201)
  })

  test('a read through the history routes restarts a state stream’s TTL too', async ({ app, clock }) => {
    clock.set(T)
    await put(app, 's', { ...stateHeaders(), 'stream-ttl': '10' })
    clock.set(T + 9_000)
    expect((await app.inject({ url: '/v1/state/s' })).statusCode).toBe(200)
    clock.set(T + 18_000)
    expect((await app.inject({ url: '/v1/window/s?at=now' })).statusCode).toBe(200)
    clock.set(T + 27_000)
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/s' })).statusCode).toBe(200)
  })

  test('the sliding window survives a restart', async ({ makeApp, clock, tmp }) => {
    const file = `${tmp}/ttl.db`
    clock.set(T)
    const first = await makeApp({ file })
    await put(first, 't', { 'content-type': 'text/plain', 'stream-ttl': '10' }, 'x')
    clock.set(T + 9_000)
    await read(first, 't')
    await first.close()
    clock.set(T + 15_000)
    const second = await makeApp({ file })
    expect((await read(second, 't')).body).toBe('x')
  })

  test('Stream-Expires-At is absolute: reads do not extend it', async ({ app, clock }) => {
    clock.set(T)
    await put(app, 'e', { 'content-type': 'text/plain', 'stream-expires-at': new Date(T + 5_000).toISOString() }, 'x')
    clock.set(T + 4_999)
    expect((await read(app, 'e')).statusCode).toBe(200)
    clock.set(T + 5_000)
    expectError(await read(app, 'e'), 'STREAM_NOT_FOUND')
  })
})
