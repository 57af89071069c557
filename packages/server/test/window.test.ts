/**
 * `GET /v1/window` and `GET /v1/windows`: which window covers a time or seq (the one whose start
 * snapshot is the last with `ts ≤ T`; `a ≤ n < b` for a seq), what it holds, and how closed
 * windows are cached.
 */
import { CACHE_IMMUTABLE, apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import type { Clock, WindowAnswer } from './support.ts'
import { append, createState, expectError, getJson, offset, post, stateAt, test, windowAt } from './support.ts'

const T0 = 1_000_000

const MESSAGES: Mutation[] = [
  { merge: { a: 1 } },
  { merge: { b: 2 } },
  { merge: { a: 3 } },
  { patch: [{ op: 'remove', path: '/b' }] },
  { merge: { c: 'ü' } },
]

/**
 * Created at T0, a snapshot every 2 entries, seq n at T0 + 10n:
 *   W0 = S0 (T0) … S2 (T0+20), W1 = S2 … S4 (T0+40), W2 = S4 … open (seq 5).
 */
async function history(app: FastifyInstance, clock: Clock): Promise<void> {
  clock.set(T0)
  await createState(app, 'h', { entries: 2 })
  for (const [i, message] of MESSAGES.entries()) {
    clock.set(T0 + 10 * (i + 1))
    await append(app, 'h', message)
  }
}

const entry = (seq: number) => ({ seq, ts: T0 + 10 * seq, m: MESSAGES[seq - 1] as Mutation })
const W0: WindowAnswer = {
  stream: 'h',
  start: { seq: 0, ts: T0, state: {} },
  entries: [entry(1), entry(2)],
  end: { seq: 2, ts: T0 + 20 },
  nextOffset: offset(2),
}
const W1: WindowAnswer = {
  stream: 'h',
  start: { seq: 2, ts: T0 + 20, state: { a: 1, b: 2 } },
  entries: [entry(3), entry(4)],
  end: { seq: 4, ts: T0 + 40 },
  nextOffset: offset(4),
}
const W2: WindowAnswer = {
  stream: 'h',
  start: { seq: 4, ts: T0 + 40, state: { a: 3 } },
  entries: [entry(5)],
  end: null,
  nextOffset: offset(5),
}
const BEFORE: WindowAnswer = { stream: 'h', start: null, entries: [], end: { seq: 0, ts: T0 }, nextOffset: offset(0) }

/** The state a window reaches after its entries with `ts ≤ at` (all of them by default). */
function replayWindow(window: WindowAnswer, at = Number.MAX_SAFE_INTEGER): { seq: number; ts: number; state: Json } {
  if (window.start === null) throw new Error('no start state')
  let { seq, ts, state } = window.start
  for (const e of window.entries) {
    if (e.ts > at) break
    state = apply(state, e.m)
    seq = e.seq
    ts = e.ts
  }
  return { seq, ts, state }
}

describe('the window for a time', () => {
  test.for([
    ['before creation', `at=${T0 - 1}`, BEFORE],
    ['at the creation ts', `at=${T0}`, W0],
    ['one ms before the first boundary', `at=${T0 + 19}`, W0],
    ['exactly the first boundary', `at=${T0 + 20}`, W1],
    ['one ms before the second boundary', `at=${T0 + 39}`, W1],
    ['exactly the second boundary', `at=${T0 + 40}`, W2],
    ['after the head', `at=${T0 + 10_000}`, W2],
    ['now', 'at=now', W2],
  ] as const)('%s', async ([, query, expected], { app, clock }) => {
    await history(app, clock)
    expect(await windowAt(app, 'h', query)).toEqual(expected)
  })
})

describe('the window for a seq (a ≤ n < b)', () => {
  test.for([
    [0, W0],
    [1, W0],
    [2, W1],
    [3, W1],
    [4, W2],
    [5, W2],
  ] as const)('seq=%i', async ([seq, expected], { app, clock }) => {
    await history(app, clock)
    expect(await windowAt(app, 'h', `seq=${seq}`)).toEqual(expected)
  })
})

test('each closed window replays from its start to the state at its end bound', async ({ app, clock }) => {
  await history(app, clock)
  for (const seq of [0, 2]) {
    const window = await windowAt(app, 'h', `seq=${seq}`)
    const end = window.end as { seq: number; ts: number }
    expect(replayWindow(window)).toEqual(await stateAt(app, 'h', `seq=${end.seq}`))
    // ...and the next window starts exactly there.
    expect((await windowAt(app, 'h', `seq=${end.seq}`)).start).toEqual(replayWindow(window))
  }
})

test('entries sharing one ms on both sides of snapshots: the window for that ms starts at the last of them', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'same', { entries: 2 })
  for (let i = 1; i <= 5; i++) await append(app, 'same', { merge: { [`k${i}`]: i } })
  const atT0 = await windowAt(app, 'same', `at=${T0}`)
  expect(atT0.start).toEqual({ seq: 4, ts: T0, state: { k1: 1, k2: 2, k3: 3, k4: 4 } })
  expect(atT0.entries.map((e) => e.seq)).toEqual([5])
  expect(atT0.end).toBeNull()
  expect(replayWindow(atT0, T0)).toEqual(await stateAt(app, 'same', `at=${T0}`))
  expect(await windowAt(app, 'same', `at=${T0 - 1}`)).toMatchObject({ start: null, entries: [], end: { seq: 0, ts: T0 } })
  // By seq the windows are still told apart, though their bounds share a ts.
  expect(await windowAt(app, 'same', 'seq=1')).toMatchObject({ start: { seq: 0, ts: T0 }, end: { seq: 2, ts: T0 } })
  expect(await windowAt(app, 'same', 'seq=2')).toMatchObject({ start: { seq: 2, ts: T0 }, end: { seq: 4, ts: T0 } })
  const listed = await getJson<{ windows: unknown[] }>(app, `/v1/windows/same?from=${T0}&to=${T0}`)
  expect(listed.windows).toEqual([{ start: { seq: 4, ts: T0 }, end: null, entries: 1, bytes: 18 }])
})

test('a run of equal ms across a snapshot: the window for that ms holds the rest of the run', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'run', { entries: 2 })
  clock.set(T0 + 5)
  for (let i = 1; i <= 3; i++) await append(app, 'run', { merge: { [`k${i}`]: i } })
  clock.set(T0 + 9)
  await append(app, 'run', { merge: { k4: 4 } })
  const window = await windowAt(app, 'run', `at=${T0 + 5}`)
  expect(window.start).toMatchObject({ seq: 2, ts: T0 + 5 })
  expect(window.entries.map((e) => [e.seq, e.ts])).toEqual([
    [3, T0 + 5],
    [4, T0 + 9],
  ])
  expect(window.end).toEqual({ seq: 4, ts: T0 + 9 })
  expect(replayWindow(window, T0 + 5)).toEqual(await stateAt(app, 'run', `at=${T0 + 5}`))
})

test('at=now on a stream never written is the open window at S0', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'empty')
  expect(await windowAt(app, 'empty', 'at=now')).toEqual({
    stream: 'empty',
    start: { seq: 0, ts: T0, state: {} },
    entries: [],
    end: null,
    nextOffset: offset(0),
  })
})

test('a seq past the head answers the open window, the one that seq will fall in', async ({ app, clock }) => {
  await history(app, clock)
  const open = await windowAt(app, 'h', 'at=now')
  expect(open.end).toBeNull()
  expect(await windowAt(app, 'h', 'seq=1000')).toEqual(open)
})

describe('after= resumes a half-fetched window', () => {
  test.for([
    ['closed window, after its start', 'seq=0&after=0', [1, 2], offset(2)],
    ['closed window, after its first entry', 'seq=0&after=1', [2], offset(2)],
    ['closed window, after its last entry', 'seq=0&after=2', [], offset(2)],
    ['open window, after its first entry', 'at=now&after=4', [5], offset(5)],
    ['open window, after the head', 'at=now&after=5', [], offset(5)],
    ['after= below the window start sends the whole window', 'seq=2&after=1', [3, 4], offset(4)],
  ] as const)('%s', async ([, query, seqs, next], { app, clock }) => {
    await history(app, clock)
    const window = await windowAt(app, 'h', query)
    expect(window.entries.map((e) => e.seq)).toEqual(seqs)
    expect(window.nextOffset).toBe(next)
  })

  test('after= beyond the window is refused rather than answered with an offset past the log', async ({ app, clock }) => {
    await history(app, clock)
    for (const query of ['at=now&after=6', 'seq=0&after=3']) {
      expectError(await app.inject({ url: `/v1/window/h?${query}` }), 'INVALID_PARAMETER')
    }
  })
})

describe('caching', () => {
  test('a closed window has a strong ETag, an immutable lifetime, and answers 304 to If-None-Match', async ({ app, clock }) => {
    await history(app, clock)
    const first = await app.inject({ url: '/v1/window/h?seq=0' })
    expect(first.statusCode).toBe(200)
    const etag = first.headers.etag as string
    expect(etag).toMatch(/^"[^"]+"$/)
    expect(first.headers['cache-control']).toBe(CACHE_IMMUTABLE)
    expect(first.headers['cache-control']).toBe('public, max-age=31536000, immutable')

    const again = await app.inject({ url: '/v1/window/h?seq=0', headers: { 'if-none-match': etag } })
    expect(again.statusCode).toBe(304)
    expect(again.body).toBe('')

    // The same window asked for by time has the same tag; it never changes as the log grows.
    await append(app, 'h', { merge: { more: true } })
    const byTime = await app.inject({ url: `/v1/window/h?at=${T0 + 5}` })
    expect(byTime.headers.etag).toBe(etag)
    expect(byTime.body).toBe(first.body)
  })

  test('If-None-Match is compared weakly and may be a list or `*` (RFC 9110 §13.1.2)', async ({ app, clock }) => {
    await history(app, clock)
    const etag = (await app.inject({ url: '/v1/window/h?seq=0' })).headers.etag as string
    const cases: Array<[string, number]> = [
      [`W/${etag}`, 304],
      [`"x", ${etag}`, 304],
      [`${etag},"x"`, 304],
      [`W/"x" , W/${etag}`, 304],
      ['*', 304],
      ['"x", "y"', 200],
      [`W/"${etag.slice(1, -1)}x"`, 200],
      [etag.slice(1, -1), 200],
    ]
    for (const [condition, status] of cases) {
      const res = await app.inject({ url: '/v1/window/h?seq=0', headers: { 'if-none-match': condition } })
      expect(res.statusCode, condition).toBe(status)
      expect(res.headers.etag, condition).toBe(etag)
      expect(res.headers['cache-control'], condition).toBe(CACHE_IMMUTABLE)
    }
  })

  test('a resumed closed window has its own tag: the full window tag does not make it 304', async ({ app, clock }) => {
    await history(app, clock)
    const full = await app.inject({ url: '/v1/window/h?seq=0' })
    const part = await app.inject({ url: '/v1/window/h?seq=0&after=1', headers: { 'if-none-match': full.headers.etag as string } })
    expect(part.statusCode).toBe(200)
    expect(part.headers.etag).not.toBe(full.headers.etag)
    expect(part.json<WindowAnswer>().entries.map((e) => e.seq)).toEqual([2])
  })

  test('the window before creation is closed and cacheable too', async ({ app, clock }) => {
    await history(app, clock)
    const res = await app.inject({ url: `/v1/window/h?at=${T0 - 1}` })
    expect(res.headers['cache-control']).toBe(CACHE_IMMUTABLE)
    const again = await app.inject({ url: `/v1/window/h?at=${T0 - 1}`, headers: { 'if-none-match': res.headers.etag as string } })
    expect(again.statusCode).toBe(304)
  })

  test('the open window is no-store and never 304: it changes as entries arrive', async ({ app, clock }) => {
    clock.set(T0)
    await createState(app, 'open')
    await append(app, 'open', { merge: { a: 1 } })
    const open = await app.inject({ url: '/v1/window/open?at=now' })
    expect(open.headers['cache-control']).toBe('no-store')
    await append(app, 'open', { merge: { a: 2 } })
    const later = await app.inject({
      url: '/v1/window/open?at=now',
      headers: { 'if-none-match': (open.headers.etag as string | undefined) ?? '"none"' },
    })
    expect(later.statusCode).toBe(200)
    expect(later.headers['cache-control']).toBe('no-store')
    expect(later.json<WindowAnswer>().entries.map((e) => e.seq)).toEqual([1, 2])
  })

  test('the open window has no tag to match, but `*` (any current representation) makes it 304', async ({ app, clock }) => {
    clock.set(T0)
    await createState(app, 'open')
    await append(app, 'open', { merge: { a: 1 } })
    for (const condition of ['W/"none"', '"x", "y"']) {
      const res = await app.inject({ url: '/v1/window/open?at=now', headers: { 'if-none-match': condition } })
      expect(res.statusCode, condition).toBe(200)
    }
    const any = await app.inject({ url: '/v1/window/open?at=now', headers: { 'if-none-match': '*' } })
    expect(any.statusCode).toBe(304)
    expect(any.body).toBe('')
    expect(any.headers['cache-control']).toBe('no-store')
    expect(any.headers.etag).toBeUndefined()
    // A stream that does not exist has no representation: `*` changes nothing.
    expectError(await app.inject({ url: '/v1/window/nothing?at=now', headers: { 'if-none-match': '*' } }), 'STREAM_NOT_FOUND')
  })

  test('a closing window loses no-store: once its end snapshot exists it is served immutable', async ({ app, clock }) => {
    await history(app, clock)
    expect((await app.inject({ url: '/v1/window/h?seq=4' })).headers['cache-control']).toBe('no-store')
    await append(app, 'h', { merge: { d: 6 } }) // seq 6 closes W2 (2 entries)
    const closed = await app.inject({ url: '/v1/window/h?seq=4' })
    expect(closed.headers['cache-control']).toBe(CACHE_IMMUTABLE)
    expect(closed.json<WindowAnswer>().end).toEqual({ seq: 6, ts: T0 + 50 })
  })

  test('a deleted and re-created stream does not match the old tags', async ({ app, clock }) => {
    await history(app, clock)
    const old = await app.inject({ url: '/v1/window/h?seq=0' })
    expect((await app.inject({ method: 'DELETE', url: '/v1/stream/h' })).statusCode).toBe(204)
    clock.set(T0)
    await createState(app, 'h', { entries: 2 })
    await append(app, 'h', [{ merge: { other: 1 } }, { merge: { other: 2 } }])
    const fresh = await app.inject({ url: '/v1/window/h?seq=0', headers: { 'if-none-match': old.headers.etag as string } })
    expect(fresh.statusCode).toBe(200)
    expect(fresh.json<WindowAnswer>().entries.map((e) => e.m)).toEqual([{ merge: { other: 1 } }, { merge: { other: 2 } }])
  })
})

test('a conditional request is 304 exactly when the full answer carries that tag: every closed window, resumed ones, a fork’s', async ({ app, clock }) => {
  clock.set(T0)
  await createState(app, 'c', { entries: 3 })
  for (let n = 1; n <= 10; n++) {
    clock.set(T0 + 10 * n)
    await append(app, 'c', { merge: { n } })
  }
  // A fork inside the window 6…9: its windows after the fork point read its own entries.
  expect((await app.inject({ method: 'PUT', url: '/v1/stream/cf', headers: { 'stream-forked-from': '/v1/stream/c', 'stream-fork-offset': offset(7) } })).statusCode).toBe(201)
  for (let n = 1; n <= 5; n++) await append(app, 'cf', { merge: { fork: n } })
  const closed: Record<string, string[]> = { c: [], cf: [] }
  for (const name of ['c', 'cf']) {
    for (const query of ['seq=0', 'seq=3', 'seq=4&after=4', 'seq=6', 'seq=6&after=8', `at=${T0 + 75}`, 'seq=9']) {
      const full = await app.inject({ url: `/v1/window/${name}?${query}` })
      expect(full.statusCode, `${name} ${query}`).toBe(200)
      const etag = full.headers.etag as string | undefined
      if (full.headers['cache-control'] !== CACHE_IMMUTABLE) continue
      // Every closed window has its tag.
      expect(etag, `${name} ${query}`).toBeDefined()
      if (etag === undefined) continue
      closed[name]?.push(query)
      const same = await app.inject({ url: `/v1/window/${name}?${query}`, headers: { 'if-none-match': etag } })
      expect(same.statusCode, `${name} ${query}`).toBe(304)
      expect(same.headers.etag).toBe(etag)
      expect(same.headers['cache-control']).toBe(CACHE_IMMUTABLE)
      const other = await app.inject({ url: `/v1/window/${name}?${query}`, headers: { 'if-none-match': `${etag.slice(0, -1)}x"` } })
      expect(other.statusCode).toBe(200)
      expect(other.body).toBe(full.body)
    }
  }
  // Every window asked for is closed but the source's open one from 9 (the fork, five entries
  // longer, has closed it): each was checked above.
  const queries = ['seq=0', 'seq=3', 'seq=4&after=4', 'seq=6', 'seq=6&after=8', `at=${T0 + 75}`]
  expect(closed).toEqual({ c: queries, cf: [...queries, 'seq=9'] })
  // The source's and the fork's windows from 6 differ (the fork's entries after 7), and so do their tags.
  const source = await app.inject({ url: '/v1/window/c?seq=6' })
  const forked = await app.inject({ url: '/v1/window/cf?seq=6' })
  expect(forked.body).not.toBe(source.body)
  expect(source.headers.etag).toBeDefined()
  expect(forked.headers.etag).toBeDefined()
  expect(forked.headers.etag).not.toBe(source.headers.etag)
  expect((await app.inject({ url: '/v1/window/cf?seq=6', headers: { 'if-none-match': source.headers.etag as string } })).statusCode).toBe(200)
})

describe('/v1/windows lists bounds, entry counts and bytes', () => {
  const bytes = (...seqs: number[]) => seqs.reduce((sum, seq) => sum + Buffer.byteLength(JSON.stringify(MESSAGES[seq - 1])), 0)
  const L0 = { start: { seq: 0, ts: T0 }, end: { seq: 2, ts: T0 + 20 }, entries: 2, bytes: bytes(1, 2) }
  const L1 = { start: { seq: 2, ts: T0 + 20 }, end: { seq: 4, ts: T0 + 40 }, entries: 2, bytes: bytes(3, 4) }
  const L2 = { start: { seq: 4, ts: T0 + 40 }, end: null, entries: 1, bytes: bytes(5) }

  test.for([
    ['no range: every window', '', [L0, L1, L2]],
    ['the whole life', `from=${T0}&to=${T0 + 50}`, [L0, L1, L2]],
    ['a point on a boundary', `from=${T0 + 20}&to=${T0 + 20}`, [L1]],
    ['a range ending on a boundary', `from=${T0 + 19}&to=${T0 + 20}`, [L0, L1]],
    ['a range inside one window', `from=${T0 + 21}&to=${T0 + 39}`, [L1]],
    ['entirely before creation', `from=${T0 - 100}&to=${T0 - 1}`, []],
    ['from before creation to creation', `from=${T0 - 100}&to=${T0}`, [L0]],
    ['inside the open window', `from=${T0 + 45}&to=${T0 + 1000}`, [L2]],
    ['from only', `from=${T0 + 40}`, [L2]],
    ['to only', `to=${T0 + 10}`, [L0]],
  ] as const)('%s', async ([, query, expected], { app, clock }) => {
    await history(app, clock)
    const answer = await getJson<{ stream: string; windows: unknown[] }>(app, `/v1/windows/h?${query}`)
    expect(answer).toEqual({ stream: 'h', windows: expected })
  })

  test('bytes count UTF-8 bytes, not characters', async ({ app, clock }) => {
    await history(app, clock)
    const { windows } = await getJson<{ windows: Array<{ bytes: number }> }>(app, `/v1/windows/h?from=${T0 + 40}`)
    expect(windows[0]?.bytes).toBe('{"merge":{"c":"ü"}}'.length + 1)
  })

  test('from after to is a clear 400', async ({ app, clock }) => {
    await history(app, clock)
    expectError(await app.inject({ url: `/v1/windows/h?from=${T0 + 2}&to=${T0 + 1}` }), 'INVALID_PARAMETER')
  })

  test('the listed bounds are the bounds /v1/window serves', async ({ app, clock }) => {
    await history(app, clock)
    await post(app, 'h', [{ merge: { x: 1 } }, { merge: { x: 2 } }, { merge: { x: 3 } }])
    const { windows } = await getJson<{ windows: Array<{ start: { seq: number }; end: unknown; entries: number }> }>(app, '/v1/windows/h')
    expect(windows.map((w) => w.start.seq)).toEqual([0, 2, 4, 6, 8])
    for (const listed of windows) {
      const window = await windowAt(app, 'h', `seq=${listed.start.seq}`)
      expect(window.end).toEqual(listed.end)
      expect(window.entries.length).toBe(listed.entries)
    }
  })
})
