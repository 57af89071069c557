/**
 * The operations routes (design §2.4): `/ready` asks the store, `/metrics` counts what happened,
 * `GET /v1/streams` lists the streams a page at a time, and the request log has one line per
 * request and none for the probes at `info`.
 */
import { Writable } from 'node:stream'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import { append, createState, expectError, getJson, post, test } from './support.ts'

describe('/ready', () => {
  test('is 200 while the store answers, 503 NOT_READY once it does not', async ({ makeApp }) => {
    const store = new StreamStore()
    const app = await makeApp({ store })
    expect((await app.inject({ url: '/ready' })).json()).toEqual({ status: 'ready' })
    await store.close()
    expectError(await app.inject({ url: '/ready' }), 'NOT_READY')
    // The process is still up.
    expect((await app.inject({ url: '/health' })).statusCode).toBe(200)
  })
})

/** The value of one sample of the Prometheus text `metrics`, or undefined when absent. */
function sample(metrics: string, name: string, labels = ''): number | undefined {
  const line = metrics.split('\n').find((text) => text.startsWith(`${name}${labels} `))
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1))
}

describe('/metrics', () => {
  test('counts appends and entries by outcome, bytes, snapshots and group commits', async ({ app }) => {
    await createState(app, 'm', { entries: 2 })
    await append(app, 'm', [{ set: { a: 1 } }, { merge: { b: 2 } }, { merge: { c: 3 } }])
    const producer = { 'content-type': 'application/json', 'producer-id': 'p', 'producer-epoch': '0', 'producer-seq': '0' }
    expect((await app.inject({ method: 'POST', url: '/v1/stream/m', headers: producer, payload: '[{"merge":{"d":4}}]' })).statusCode).toBe(200)
    // The retry of a batch of one carries one entry, whatever else its body says.
    expect((await app.inject({ method: 'POST', url: '/v1/stream/m', headers: producer, payload: '[{"merge":{"d":4}}]' })).statusCode).toBe(204)
    expect((await post(app, 'm', { patch: [{ op: 'test', path: '/a', value: 99 }] })).statusCode).toBe(409)
    expect((await app.inject({ method: 'PUT', url: '/v1/state/m', headers: { 'content-type': 'application/json' }, payload: '{"z":1}' })).statusCode).toBe(200)

    const res = await app.inject({ url: '/metrics' })
    expect(res.statusCode).toBe(200)
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/)
    const text = res.body
    expect(sample(text, 'statestream_appends_total', '{outcome="appended"}')).toBe(3)
    expect(sample(text, 'statestream_appends_total', '{outcome="duplicate"}')).toBe(1)
    expect(sample(text, 'statestream_appends_total', '{outcome="rejected"}')).toBe(1)
    // 3 + 1 + 1 (the PUT's patch) entries; the duplicate and the refused one stored nothing.
    expect(sample(text, 'statestream_entries_total', '{outcome="stored"}')).toBe(5)
    expect(sample(text, 'statestream_entries_total', '{outcome="duplicate"}')).toBe(1)
    expect(sample(text, 'statestream_entries_total', '{outcome="rejected"}')).toBe(1)
    expect(sample(text, 'statestream_entry_bytes_total')).toBeGreaterThan(50)
    // Every 2 entries: after seq 2 and 4.
    expect(sample(text, 'statestream_snapshots_total')).toBe(2)
    // The create, three stored appends, the refused one and the PUT: each its own group here.
    expect(sample(text, 'statestream_group_commit_writes_count')).toBeGreaterThanOrEqual(5)
    expect(sample(text, 'statestream_group_commit_duration_seconds_count')).toBe(sample(text, 'statestream_group_commit_writes_count'))
    // The append without a producer and the duplicate answered 204.
    expect(text).toMatch(/statestream_request_duration_seconds_count\{method="POST",route="\/v1\/stream\/\*",status="204"\} 2\n/)
    // Node's own process metrics come along.
    expect(text).toContain('process_resident_memory_bytes')
    expect(text).toContain('nodejs_eventloop_lag_seconds')
  })

  test('counts the entries each refused append carried: one per message of a batch, none for a close', async ({ app }) => {
    const rejected = async () => sample((await app.inject({ url: '/metrics' })).body, 'statestream_entries_total', '{outcome="rejected"}')
    // Before anything is refused, every outcome reads 0.
    expect(await rejected()).toBe(0)
    expect(sample((await app.inject({ url: '/metrics' })).body, 'statestream_entries_total', '{outcome="duplicate"}')).toBe(0)
    await createState(app, 'r')
    await app.inject({ method: 'PUT', url: '/v1/stream/t', headers: { 'content-type': 'text/plain' } })
    const json = { 'content-type': 'application/json; charset=utf-8' }
    const cases: Array<[string, { url: string; method?: 'POST' | 'PUT'; headers: Record<string, string>; payload?: string }, number]> = [
      // A batch refused by its last message: all three are refused with it.
      [
        'a batch of three',
        { url: '/v1/stream/r', headers: json, payload: ' [ {"merge":{"a":"x,]\\\\"}} , {"set":[1,{"b":2}]},\n{"patch":[{"op":"test","path":"/a","value":0}]} ]' },
        3,
      ],
      ['one message', { url: '/v1/stream/r', headers: json, payload: '{"bogus":1}' }, 1],
      ['a body that is not JSON', { url: '/v1/stream/r', headers: json, payload: '[{' }, 1],
      ['an empty batch', { url: '/v1/stream/r', headers: json, payload: '[ ]' }, 0],
      ['bytes to a stream that does not exist', { url: '/v1/stream/none', headers: { 'content-type': 'text/plain' }, payload: 'a,b' }, 1],
      ['a close of a stream that does not exist', { url: '/v1/stream/none', headers: { 'stream-closed': 'true' } }, 0],
      ['a state that is not JSON', { method: 'PUT', url: '/v1/state/r', headers: json, payload: '[1,2' }, 1],
    ]
    let total = 0
    for (const [what, request, count] of cases) {
      const res = await app.inject({ method: 'POST', ...request })
      expect(res.statusCode, what).toBeGreaterThanOrEqual(400)
      total += count
      expect(await rejected(), what).toBe(total)
    }
  })

  test('counts open live connections by route, and slow readers cut', async ({ makeApp }) => {
    const app = await makeApp({ maxBufferedBytes: 16 * 1024, heartbeatMs: 60_000 })
    await createState(app, 'live')
    await app.listen({ port: 0, host: '127.0.0.1' })
    const port = (app.server.address() as AddressInfo).port
    // A reader that never reads.
    const reader = connect(port, '127.0.0.1')
    reader.write('GET /v1/live/live HTTP/1.1\r\nHost: localhost\r\n\r\n')
    const opened = new Promise<void>((resolve) => reader.once('data', () => resolve()))
    await opened
    reader.pause()
    const live = async () => sample((await app.inject({ url: '/metrics' })).body, 'statestream_live_connections', '{route="live"}')
    expect(await live()).toBe(1)
    expect(sample((await app.inject({ url: '/metrics' })).body, 'statestream_slow_reader_cuts_total')).toBe(0)
    // Its budget is far smaller than one entry: the first one cuts it, and is counted.
    await append(app, 'live', { set: { big: 'x'.repeat(64 * 1024) } })
    const metrics = (await app.inject({ url: '/metrics' })).body
    expect(sample(metrics, 'statestream_slow_reader_cuts_total')).toBe(1)
    expect(sample(metrics, 'statestream_live_connections', '{route="live"}')).toBe(0)
    reader.destroy()
  })
})

describe('GET /v1/streams', () => {
  test('lists the streams in name order, a page at a time, filtered by prefix', async ({ app, clock }) => {
    for (const name of ['weather/b', 'weather/a', 'traffic/x', 'weather/c/deep', 'weatherman']) await createState(app, name)
    await app.inject({ method: 'PUT', url: '/v1/stream/logs/raw', headers: { 'content-type': 'text/plain' } })
    await append(app, 'weather/a', [{ set: { t: 1 } }, { merge: { t: 2 } }])

    const all = await getJson<{ streams: Array<{ name: string }>; next: string | null }>(app, '/v1/streams')
    expect(all.streams.map((s) => s.name)).toEqual(['logs/raw', 'traffic/x', 'weather/a', 'weather/b', 'weather/c/deep', 'weatherman'])
    expect(all.next).toBeNull()
    expect(all.streams[2]).toEqual({ name: 'weather/a', kind: 'state', seq: 2, ts: clock.t, entries: 2, bytes: expect.any(Number), closed: false })
    expect(all.streams[0]).toMatchObject({ name: 'logs/raw', kind: 'plain', seq: 0, entries: 0, bytes: 0, closed: false })

    const names: string[] = []
    let url = '/v1/streams?prefix=weather/&limit=2'
    for (let pages = 0; pages < 5; pages++) {
      const page = await getJson<{ streams: Array<{ name: string }>; next: string | null }>(app, url)
      expect(page.streams.length).toBeLessThanOrEqual(2)
      names.push(...page.streams.map((s) => s.name))
      if (page.next === null) break
      url = `/v1/streams?prefix=weather/&limit=2&cursor=${page.next}`
    }
    expect(names).toEqual(['weather/a', 'weather/b', 'weather/c/deep'])
    expect((await getJson<{ streams: unknown[] }>(app, '/v1/streams?prefix=nothing')).streams).toEqual([])
  })

  test('leaves out expired and deleted streams, and still fills its pages', async ({ app, clock }) => {
    for (const name of ['a', 'b', 'c', 'd', 'e']) {
      const ttl = name === 'b' || name === 'c' ? { 'stream-ttl': '1' } : {}
      await app.inject({ method: 'PUT', url: `/v1/stream/${name}`, headers: { 'content-type': 'text/plain', ...ttl } })
    }
    await app.inject({ method: 'DELETE', url: '/v1/stream/d' })
    clock.set(clock.t + 5_000)
    const page = await getJson<{ streams: Array<{ name: string }>; next: string | null }>(app, '/v1/streams?limit=2')
    expect(page.streams.map((s) => s.name)).toEqual(['a', 'e'])
  })

  test.for([
    ['limit=0', 'INVALID_PARAMETER'],
    ['limit=1001', 'INVALID_PARAMETER'],
    ['limit=ten', 'INVALID_PARAMETER'],
    ['prefix=a%20b', 'INVALID_PARAMETER'],
    ['cursor=not!a!cursor', 'INVALID_PARAMETER'],
    ['cursor=Li4', 'INVALID_PARAMETER'],
    ['limit=1&limit=2', 'INVALID_PARAMETER'],
  ] as const)('?%s is a 400 %s', async ([query, code], { app }) => {
    expectError(await app.inject({ url: `/v1/streams?${query}` }), code)
  })
})

describe('the request log', () => {
  test('one line per request at info, and none for the probes', async ({ makeApp }) => {
    const lines: Array<Record<string, unknown>> = []
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>)
        done()
      },
    })
    const app = await makeApp({ logger: { level: 'info', stream } })
    for (const url of ['/health', '/ready', '/metrics']) await app.inject({ url })
    await createState(app, 'logged')
    await app.inject({ url: '/v1/state/logged' })
    await app.inject({ url: '/v1/state/missing' })
    const requests = lines.filter((line) => line.method !== undefined)
    expect(requests.map((line) => line.msg)).toEqual([
      expect.stringMatching(/^PUT \/v1\/stream\/logged 201 [\d.]+ ms$/),
      expect.stringMatching(/^GET \/v1\/state\/logged 200 [\d.]+ ms$/),
      expect.stringMatching(/^GET \/v1\/state\/missing 404 [\d.]+ ms$/),
    ])
    expect(requests[2]).toMatchObject({ level: 30, method: 'GET', url: '/v1/state/missing', status: 404 })
    expect(lines.filter((line) => line.msg === 'incoming request' || line.msg === 'request completed')).toEqual([])
  })
})
