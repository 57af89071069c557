/**
 * Fuzzing the running server over real HTTP: fast-check generates requests on every route —
 * methods, names (valid, invalid, encoded, huge), offsets and query parameters, headers (producer,
 * snapshot policy, TTL, resume points, huge ones), bodies (mutations, batches, nesting far past the
 * limit, wide arrays, invalid JSON, bytes, over the body limit) — and a share of raw, malformed
 * HTTP. Throughout and after:
 * - no answer is a 5xx, and no connection is reset;
 * - every refusal is the contract's `{"error":{"code","message"}}`, with a documented code, the
 *   status of that code, a short message and no internal detail;
 * - `/health` keeps answering;
 * - a sentinel stream, never written by the fuzz, is exactly as it was;
 * - every state stream the fuzz created is still readable (log, window, state = a replay of its
 *   log) and takes an append;
 * - `Object.prototype` is untouched.
 *
 * Bounded for CI (FUZZ_RUNS, default 1500); FUZZ_SEED replays a run; FUZZ_REPORT=1 prints the
 * counts by status.
 */
import { connect } from 'node:net'
import { ERROR_STATUS, apply } from '@statestream/common'
import type { ErrorCode, Json, Mutation } from '@statestream/common'
import fc from 'fast-check'
import { Agent, request } from 'undici'
import { expect } from 'vitest'
import { liveTest as test } from './support/live-server.ts'

const RUNS = Number(process.env.FUZZ_RUNS ?? 1500)
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED)
const BODY_LIMIT = 64 * 1024
const SENTINEL = 'sentinel/s'
/** Names the fuzz writes to; it may read the sentinel, never write it. */
const POOL = ['f/a', 'f/b', 'f/s', 'f/t/u', 'plain/p']

const ROUTES = ['/v1/stream/', '/v1/window/', '/v1/windows/', '/v1/state/', '/v1/live/'] as const
const WRITES = new Set(['POST', 'PUT', 'DELETE', 'PATCH'])

/** Anything a stream name might be, as it goes into the path. */
const name = fc.oneof(
  { weight: 6, arbitrary: fc.constantFrom(...POOL, SENTINEL) },
  {
    weight: 3,
    arbitrary: fc.constantFrom('', '.', '..', 'a//b', 'a/', '/a', 'a%2Fb', 'f%2fa', '%zz', 'a%00b', 'caf%C3%A9', 'a%20b', 'a:b', 'a@b', '%2e%2e', 'x'.repeat(513), 'y'.repeat(3000)),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }).map((s) => encodeURIComponent(s)) },
)

const integerText = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: 50 }).map(String) },
  { weight: 4, arbitrary: fc.constantFrom('-1', '-0', '01', '1.5', '1e3', '0x10', '', ' 1', '9'.repeat(40), 'NaN', 'now') },
  { weight: 1, arbitrary: fc.constant('9'.repeat(10_000)) },
)
const offsetText = fc.oneof(
  { weight: 12, arbitrary: fc.nat({ max: 60 }).map((n) => String(n).padStart(16, '0')) },
  { weight: 4, arbitrary: fc.constantFrom('-1', 'now', 'abc', '', '0'.repeat(17), '%00') },
  { weight: 1, arbitrary: fc.constant('9'.repeat(10_000)) },
)

const query = fc
  .record(
    {
      offset: offsetText,
      live: fc.constantFrom('long-poll', 'sse', 'forever', ''),
      at: fc.oneof(integerText, fc.constant('now')),
      seq: integerText,
      after: integerText,
      from: integerText,
      to: integerText,
      cursor: fc.oneof(integerText, fc.string({ maxLength: 6 })),
      stream: fc.array(fc.tuple(fc.constantFrom(...POOL, SENTINEL, '', '..', 'a%2Fb'), fc.option(integerText)), { minLength: 1, maxLength: 4 }),
    },
    { requiredKeys: [] },
  )
  .map((q) => {
    const parts: string[] = []
    for (const [key, value] of Object.entries(q)) {
      if (key === 'stream') {
        for (const [n, seq] of value as Array<[string, string | null]>) parts.push(`stream=${encodeURIComponent(seq === null ? n : `${n}@${seq}`)}`)
      } else parts.push(`${key}=${encodeURIComponent(value as string)}`)
    }
    return parts.length === 0 ? '' : `?${parts.join('&')}`
  })

/** One header: mostly what a client of the routes sends, sometimes anything. */
const headerPair: fc.Arbitrary<[string, string]> = fc.oneof(
  { weight: 10, arbitrary: fc.constant<[string, string]>(['content-type', 'application/json']) },
  { weight: 5, arbitrary: fc.constant<[string, string]>(['stream-kind', 'state']) },
  {
    weight: 2,
    arbitrary: fc.tuple(fc.constant('content-type'), fc.constantFrom('text/plain', 'application/octet-stream', 'garbage', 'APPLICATION/JSON', 'application/json; charset=utf-8', '')),
  },
  {
    weight: 3,
    arbitrary: fc.tuple(
      fc.constantFrom('stream-snapshot-entries', 'stream-snapshot-bytes', 'stream-snapshot-ms', 'stream-ttl', 'stream-seq', 'last-event-id', 'stream-kind'),
      integerText,
    ),
  },
  { weight: 1, arbitrary: fc.tuple(fc.constant('stream-expires-at'), fc.constantFrom('2030-01-01T00:00:00Z', 'tomorrow', '2020-01-01T00:00:00Z', '')) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('stream-closed'), fc.constantFrom('true', 'TRUE', 'false', 'yes')) },
  { weight: 1, arbitrary: fc.tuple(fc.constantFrom('if-none-match', 'authorization', 'stream-forked-from', 'stream-fork-offset'), fc.constantFrom('"x"', '*', '', 'Bearer x.y.z', '/v1/stream/f/a', '/v1/stream/sentinel/s', '0000000000000001')) },
)

/** `arbitrary` once in `every` draws, `null` otherwise. */
function rarely<T>(arbitrary: fc.Arbitrary<T>, every: number): fc.Arbitrary<T | null> {
  return fc.oneof({ weight: every - 1, arbitrary: fc.constant(null) }, { weight: 1, arbitrary })
}

/** A coherent idempotent producer, with a small epoch and seq (so some are new, some duplicates, some gaps). */
const producer = fc.record({ 'producer-id': fc.constantFrom('p1', 'p2'), 'producer-epoch': fc.nat({ max: 2 }).map(String), 'producer-seq': fc.nat({ max: 4 }).map(String) })

const headers = fc
  .tuple(
    fc.array(headerPair, { maxLength: 5 }),
    rarely(producer, 4),
    // Now and then a header past the server's limit (431), or a large one within it.
    rarely(fc.constantFrom('h'.repeat(20_000), 'h'.repeat(2_000)), 20),
  )
  .map(([pairs, producerHeaders, huge]) => ({
    ...Object.fromEntries(pairs),
    ...producerHeaders,
    ...(huge !== null && { 'x-huge': huge }),
  }))

const leaf = fc.oneof(fc.integer(), fc.string({ maxLength: 6 }), fc.boolean(), fc.constant(null), fc.double({ noNaN: true, noDefaultInfinity: true }))
const pointer = fc.array(fc.constantFrom('a', 'b', '0', '-', '~0', '~1', '__proto__', 'constructor'), { maxLength: 4 }).map((t) => (t.length === 0 ? '' : `/${t.join('/')}`))
const mutation: fc.Arbitrary<Json> = fc.oneof(
  fc.dictionary(fc.constantFrom('a', 'b', '__proto__', 'constructor'), fc.oneof(leaf, fc.dictionary(fc.constantFrom('x', 'y'), leaf))).map((merge) => ({ merge })),
  fc.jsonValue({ maxDepth: 3 }).map((set) => ({ set: set as Json })),
  fc
    .array(
      fc.record({
        op: fc.constantFrom('add', 'remove', 'replace', 'move', 'copy', 'test', 'bogus'),
        path: pointer,
        from: pointer,
        value: fc.jsonValue({ maxDepth: 2 }),
      }),
      { maxLength: 3 },
    )
    .map((patch) => ({ patch: patch as unknown as Json })),
  fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
)

/** `{"a":…}` nested `depth` deep, as text. */
const nested = (depth: number, open = '{"a":', close = '}'): string => open.repeat(depth) + '1' + close.repeat(depth)

const body = fc.oneof(
  { weight: 6, arbitrary: mutation.map((m) => JSON.stringify(m)) },
  { weight: 3, arbitrary: fc.array(mutation, { maxLength: 5 }).map((ms) => JSON.stringify(ms)) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 20_000 }).map((d) => `{"merge":${nested(d)}}`) },
  { weight: 1, arbitrary: fc.integer({ min: 200, max: 20_000 }).map((d) => `[{"set":${nested(d, '[', ']')}}]`) },
  { weight: 1, arbitrary: fc.nat({ max: 20 }).map((n) => `{"merge":{"wide":[${'0,'.repeat(n * 5000)}0]}}`) },
  { weight: 1, arbitrary: fc.constantFrom('', '{', '{"merge":', 'null', '[]', '"x"', '\u0000', 'x'.repeat(BODY_LIMIT + 1)) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')) },
)

const httpRequest = fc.record({
  method: fc.constantFrom('GET', 'GET', 'GET', 'HEAD', 'POST', 'POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH'),
  route: fc.oneof({ weight: 9, arbitrary: fc.constantFrom(...ROUTES) }, { weight: 1, arbitrary: fc.constantFrom('/v1/live', '/v1/streams', '/v2/', '/', '/health') }),
  name,
  query,
  headers,
  body,
})

/** Raw bytes of a malformed or unusual HTTP request. */
const rawRequest = fc.constantFrom(
  'GARBAGE\r\n\r\n',
  'GET /v1/state/f/a HTTP/1.1\r\n\r\n',
  'GET /v1/state/\u0000 HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/state/f/a HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n',
  'POST /v1/stream/f/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  `GET /v1/state/f/a HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(70_000)}\r\n\r\n`,
  'BREW /v1/state/f/a HTTP/1.1\r\nHost: x\r\n\r\n',
  'GET /v1/state/f/a HTTP/9.9\r\nHost: x\r\n\r\n',
  'GET  HTTP/1.1\r\nHost: x\r\n\r\n',
)

type HttpRequest = typeof httpRequest extends fc.Arbitrary<infer T> ? T : never

interface Answer {
  status: number
  contentType: string | undefined
  body: string
}

/** Checks one answer against the contract; returns a problem, or undefined. */
function problem(answer: Answer, method: string): string | undefined {
  if (answer.status >= 500) return `status ${answer.status}: ${answer.body.slice(0, 300)}`
  if (answer.status < 400 || method === 'HEAD' || answer.body === '') {
    return answer.status >= 400 && method !== 'HEAD' ? `a ${answer.status} without a body` : undefined
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(answer.body)
  } catch {
    return `a ${answer.status} whose body is not JSON: ${answer.body.slice(0, 200)}`
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error
  if (typeof error?.code !== 'string' || typeof error.message !== 'string') return `not the wire error body: ${answer.body.slice(0, 200)}`
  if (!Object.hasOwn(ERROR_STATUS, error.code)) return `undocumented code ${error.code}`
  if (ERROR_STATUS[error.code as ErrorCode] !== answer.status) return `code ${error.code} with status ${answer.status}`
  if (error.message.length > 400) return `a ${error.message.length}-character message`
  if (/SQLITE|at .*\.[jt]s:\d+|node:internal/.test(answer.body)) return `internal detail: ${answer.body.slice(0, 200)}`
  return undefined
}

async function send(url: string, agent: Agent, r: HttpRequest): Promise<Answer> {
  // The fuzz reads the sentinel, never writes it.
  const target = WRITES.has(r.method) && r.name === SENTINEL ? 'f/s' : r.name
  const path = r.route.endsWith('/') && !['/v2/', '/'].includes(r.route) ? `${r.route}${target}` : r.route
  const hasBody = r.method === 'POST' || r.method === 'PUT' || r.method === 'PATCH'
  const response = await request(`${url}${path}${r.query}`, {
    method: r.method as 'GET',
    dispatcher: agent,
    headers: r.headers,
    ...(hasBody && { body: r.body }),
    headersTimeout: 20_000,
    bodyTimeout: 20_000,
  })
  const contentType = response.headers['content-type'] as string | undefined
  if (contentType?.startsWith('text/event-stream')) {
    // A live answer streams on: its head is the answer.
    response.body.on('error', () => {})
    response.body.destroy()
    return { status: response.statusCode, contentType, body: '' }
  }
  return { status: response.statusCode, contentType, body: await response.body.text() }
}

/** Sends raw bytes and reads the answer's status line and body until the server closes or answers. */
function sendRaw(port: number, bytes: string): Promise<Answer & { reset: boolean }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    let text = ''
    let reset = false
    socket.setEncoding('latin1')
    socket.on('data', (chunk: string) => {
      text += chunk
      const head = text.indexOf('\r\n\r\n')
      const length = /\r\ncontent-length: *(\d+)/i.exec(text)
      if (head !== -1 && length !== null && text.length >= head + 4 + Number(length[1])) socket.end()
    })
    socket.on('error', (error: NodeJS.ErrnoException) => {
      reset = error.code === 'ECONNRESET' || error.code === 'EPIPE'
    })
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0)
      const head = text.indexOf('\r\n\r\n')
      const contentType = /\r\ncontent-type: *([^\r]+)/i.exec(text)?.[1]
      resolve({ status, contentType, body: head === -1 ? '' : text.slice(head + 4), reset })
    })
    socket.write(bytes, 'latin1')
    setTimeout(() => socket.destroy(), 5_000).unref()
  })
}

/** Everything observable of a stream: head, log, state. */
async function observe(url: string, agent: Agent, stream: string): Promise<string[]> {
  const out: string[] = []
  for (const [method, path] of [['HEAD', `/v1/stream/${stream}`], ['GET', `/v1/stream/${stream}?offset=-1`], ['GET', `/v1/state/${stream}`], ['GET', `/v1/window/${stream}?at=now`]] as const) {
    const response = await request(`${url}${path}`, { method, dispatcher: agent })
    out.push(`${response.statusCode} ${response.headers['stream-next-offset'] ?? ''} ${await response.body.text()}`)
  }
  return out
}

test(`${RUNS} fuzzed requests: no 5xx, no reset, every refusal in the contract, the sentinel untouched`, { timeout: 120_000 + RUNS * 50 }, async ({ serve }) => {
  const { app, url } = await serve({ bodyLimit: BODY_LIMIT, longPollTimeoutMs: 100, sseMaxMs: 500, heartbeatMs: 5_000 })
  const port = (app.server.address() as { port: number }).port
  const agent = new Agent({ connections: 4, keepAliveTimeout: 10_000 })
  // The sentinel: history across several windows, a TTL-less state stream nobody writes to.
  const create = await request(`${url}/v1/stream/${SENTINEL}`, {
    method: 'PUT',
    dispatcher: agent,
    headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '3' },
    body: JSON.stringify([{ set: { kept: true } }, { merge: { n: 1 } }, { merge: { n: 2 } }, { patch: [{ op: 'add', path: '/list', value: [1] }] }]),
  })
  await create.body.dump()
  expect(create.statusCode).toBe(201)
  const before = await observe(url, agent, SENTINEL)
  // The pool exists at the start (the fuzz deletes and re-creates its streams as it goes).
  for (const stream of POOL) {
    const plain = stream.startsWith('plain/')
    const res = await request(`${url}/v1/stream/${stream}`, {
      method: 'PUT',
      dispatcher: agent,
      headers: { 'content-type': 'application/json', ...(!plain && { 'stream-kind': 'state', 'stream-snapshot-entries': '4' }) },
      body: plain ? '[1]' : '{"set":{"a":{"b":[1,2]}}}',
    })
    await res.body.dump()
    expect(res.statusCode).toBe(201)
  }

  const statuses = new Map<number, number>()
  const problems: string[] = []
  let resets = 0
  let sent = 0
  await fc.assert(
    fc.asyncProperty(fc.oneof({ weight: 19, arbitrary: httpRequest }, { weight: 1, arbitrary: rawRequest }), async (r) => {
      sent += 1
      let answer: Answer
      let method = 'GET'
      if (typeof r === 'string') {
        const raw = await sendRaw(port, r)
        if (raw.reset) resets += 1
        answer = raw
      } else {
        method = r.method
        try {
          answer = await send(url, agent, r)
        } catch (error) {
          resets += 1
          problems.push(`${r.method} ${r.route}${r.name}: ${(error as Error).message}`)
          return
        }
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1)
      const wrong = problem(answer, method)
      if (wrong !== undefined) problems.push(`${typeof r === 'string' ? JSON.stringify(r.slice(0, 60)) : `${r.method} ${r.route}${r.name.slice(0, 40)}${r.query.slice(0, 60)}`}: ${wrong}`)
      if (sent % 100 === 0) {
        const health = await request(`${url}/health`, { dispatcher: agent })
        await health.body.dump()
        expect(health.statusCode).toBe(200)
      }
    }),
    { numRuns: RUNS, ...(SEED !== undefined && { seed: SEED }) },
  )
  if (process.env.FUZZ_REPORT !== undefined) {
    process.stdout.write(`fuzz: ${sent} requests, ${resets} resets, ${problems.length} problems; by status ${JSON.stringify(Object.fromEntries([...statuses].sort()))}\n`)
  }
  expect(problems.slice(0, 20)).toEqual([])
  expect(resets).toBe(0)
  expect([...statuses.keys()].every((status) => status < 500)).toBe(true)

  // The sentinel is exactly as it was.
  expect(await observe(url, agent, SENTINEL)).toEqual(before)
  // Every state stream the fuzz made stays readable (its state a replay of its log) and appendable.
  for (const stream of POOL) {
    const head = await request(`${url}/v1/stream/${stream}`, { method: 'HEAD', dispatcher: agent })
    await head.body.dump()
    if (head.statusCode !== 200 || head.headers['stream-kind'] !== 'state') continue
    const log = await request(`${url}/v1/stream/${stream}?offset=-1`, { dispatcher: agent })
    expect(log.statusCode).toBe(200)
    let replayed: Json = {}
    for (const { ts: _ts, ...m } of (await log.body.json()) as Array<Mutation & { ts: number }>) replayed = apply(replayed, m as Mutation)
    // A catch-up read is at most one chunk: compare with the state at the last seq it held.
    const next = Number(log.headers['stream-next-offset'])
    const state = await request(`${url}/v1/state/${stream}?seq=${next}`, { dispatcher: agent })
    expect(state.statusCode).toBe(200)
    expect(((await state.body.json()) as { state: Json }).state).toEqual(replayed)
    const window = await request(`${url}/v1/window/${stream}?at=now`, { dispatcher: agent })
    await window.body.dump()
    expect(window.statusCode).toBe(200)
    const appended = await request(`${url}/v1/stream/${stream}`, {
      method: 'POST',
      dispatcher: agent,
      headers: { 'content-type': 'application/json' },
      body: '{"merge":{"probe":true}}',
    })
    const text = await appended.body.text()
    // A stream the fuzz closed refuses appends, in the contract; any other takes one.
    if (appended.statusCode !== 204) expect(JSON.parse(text).error.code, text).toBe('STREAM_CLOSED')
  }
  expect(Object.keys(Object.prototype)).toEqual([])
  expect(({} as Record<string, unknown>).polluted).toBeUndefined()
  await agent.close()
})
