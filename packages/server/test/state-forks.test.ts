/**
 * Forks of state streams (design §2.1): a fork at seq n (or at a time) is a state stream whose
 * history up to n is its source's — the same snapshots, windows and ETags, read through, never
 * copied — and which then diverges. Forks of forks, forks of closed streams, and the life of
 * sources that forks still read through (410, then collected).
 */
import { join } from 'node:path'
import type { Json } from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { describe, expect } from 'vitest'
import type { Clock, Response } from './support.ts'
import { append, createState, expectError, getJson, offset, post, stateAt, test, windowAt } from './support.ts'

const T0 = 1_000_000

/** Source `src`: a snapshot every 3 entries, entry n at T0 + 10n setting `n` (and `a` to n). */
async function source(app: FastifyInstance, clock: Clock, entries = 8, name = 'src'): Promise<void> {
  clock.set(T0)
  await createState(app, name, { entries: 3 })
  for (let n = 1; n <= entries; n++) {
    clock.set(T0 + 10 * n)
    await append(app, name, { merge: { n, [`k${n}`]: true } })
  }
}

/** PUTs a fork of `from` with extra headers; returns the answer. */
function fork(app: FastifyInstance, name: string, from: string, headers: Record<string, string> = {}): Promise<Response> {
  return app.inject({ method: 'PUT', url: `/v1/stream/${name}`, headers: { 'stream-forked-from': `/v1/stream/${from}`, ...headers } })
}

async function window(app: FastifyInstance, name: string, query: string): Promise<{ body: Json; etag: string | undefined; cache: string | undefined }> {
  const res = await app.inject({ url: `/v1/window/${name}?${query}` })
  expect(res.statusCode, res.body).toBe(200)
  const body = res.json<Record<string, Json>>()
  // Everything but the stream's name.
  delete body.stream
  return { body, etag: res.headers.etag as string | undefined, cache: res.headers['cache-control'] as string | undefined }
}

describe('a fork of a state stream at seq n', () => {
  test('is a state stream with its source’s kind, content type and snapshot policy, at the source’s head by default', async ({ app, clock }) => {
    await source(app, clock)
    const res = await fork(app, 'f', 'src')
    expect(res.statusCode, res.body).toBe(201)
    expect(res.headers['content-type']).toBe('application/json')
    expect(res.headers['stream-next-offset']).toBe(offset(8))
    const head = await app.inject({ method: 'HEAD', url: '/v1/stream/f' })
    expect(head.headers['stream-kind']).toBe('state')
    expect(head.headers['stream-snapshot-entries']).toBe('3')
    expect((await stateAt(app, 'f', 'at=now')).state).toEqual((await stateAt(app, 'src', 'at=now')).state)
  })

  test('shares its source’s windows before the fork point: same bodies, same ETags, immutable', async ({ app, clock }) => {
    await source(app, clock)
    // Windows of src: S0…S3, S3…S6, S6…open (7, 8). Fork after entry 7.
    expect((await fork(app, 'f', 'src', { 'stream-fork-offset': offset(7) })).statusCode).toBe(201)
    for (const seq of [0, 1, 2, 3, 5]) {
      const a = await window(app, 'src', `seq=${seq}`)
      const b = await window(app, 'f', `seq=${seq}`)
      expect(b.body).toEqual(a.body)
      expect(b.etag).toBeDefined()
      expect(b.etag).toBe(a.etag)
      expect(b.cache).toContain('immutable')
    }
    // A 304 from the fork for the tag the source's window has.
    const tag = (await window(app, 'src', 'seq=4')).etag as string
    expect((await app.inject({ url: '/v1/window/f?seq=4', headers: { 'if-none-match': tag } })).statusCode).toBe(304)
    // The window holding the fork point is the fork's own open one: the source's entry 7, no 8.
    const open = await windowAt(app, 'f', 'at=now')
    expect(open.start).toMatchObject({ seq: 6 })
    expect(open.entries.map((e) => e.seq)).toEqual([7])
    expect(open.end).toBeNull()
  })

  test('has its source’s state at every time before the fork point, then diverges', async ({ app, clock }) => {
    await source(app, clock)
    expect((await fork(app, 'f', 'src', { 'stream-fork-offset': offset(5) })).statusCode).toBe(201)
    clock.set(T0 + 1000)
    await append(app, 'f', { merge: { branch: 'f' } })
    await append(app, 'src', { merge: { branch: 'src' } })
    for (const at of [T0 - 1, T0, T0 + 5, T0 + 10, T0 + 29, T0 + 30, T0 + 50]) {
      expect(await stateAt(app, 'f', `at=${at}`), `at=${at}`).toEqual(await stateAt(app, 'src', `at=${at}`))
    }
    for (const seq of [0, 1, 3, 5]) expect(await stateAt(app, 'f', `seq=${seq}`)).toEqual(await stateAt(app, 'src', `seq=${seq}`))
    // After the fork point: the source's entries 6–8 are not the fork's.
    const forkNow = await stateAt(app, 'f', 'at=now')
    expect(forkNow).toMatchObject({ seq: 6, state: { n: 5, branch: 'f' } })
    expect(forkNow.state).not.toHaveProperty('k6')
    expect(await stateAt(app, 'src', 'at=now')).toMatchObject({ seq: 9, state: { n: 8, k6: true, branch: 'src' } })
    const log = (await app.inject({ url: '/v1/stream/f?offset=-1' })).json<Array<{ merge: Json }>>()
    const inherited: Json[] = [1, 2, 3, 4, 5].map((n) => ({ n, [`k${n}`]: true }))
    expect(log.map((m) => m.merge)).toEqual([...inherited, { branch: 'f' }])
  })

  test('takes snapshots by the policy from where it starts: its own windows after the fork point', async ({ app, clock }) => {
    await source(app, clock, 4)
    // src: S0…S3, S3…open(4). Fork at 4: its open window starts at S3 and holds entry 4.
    expect((await fork(app, 'f', 'src')).statusCode).toBe(201)
    clock.set(T0 + 100)
    await append(app, 'f', [{ merge: { x: 1 } }, { merge: { x: 2 } }, { merge: { x: 3 } }])
    const listed = await getJson<{ windows: Array<{ start: { seq: number }; end: { seq: number } | null; entries: number }> }>(app, '/v1/windows/f')
    expect(listed.windows.map((w) => [w.start.seq, w.end?.seq ?? null, w.entries])).toEqual([
      [0, 3, 3],
      [3, 6, 3],
      [6, null, 1],
    ])
    // The source is untouched by its fork's snapshots.
    const sourceListed = await getJson<{ windows: unknown[] }>(app, '/v1/windows/src')
    expect(sourceListed.windows).toHaveLength(2)
  })

  test('Stream-Fork-At forks after the last entry with ts ≤ T', async ({ app, clock }) => {
    await source(app, clock)
    for (const [at, seq] of [
      [T0, 0],
      [T0 + 9, 0],
      [T0 + 30, 3],
      [T0 + 35, 3],
      [T0 + 999, 8],
    ] as const) {
      const res = await fork(app, `at/${at}`, 'src', { 'stream-fork-at': String(at) })
      expect(res.statusCode, res.body).toBe(201)
      expect(res.headers['stream-next-offset'], `at ${at}`).toBe(offset(seq))
      expect(await stateAt(app, `at/${at}`, 'at=now')).toEqual(await stateAt(app, 'src', `seq=${seq}`))
    }
    // Before the source existed there is nothing to branch from; with an offset too is ambiguous.
    expectError(await fork(app, 'early', 'src', { 'stream-fork-at': String(T0 - 1) }), 'INVALID_PARAMETER')
    expectError(await fork(app, 'both', 'src', { 'stream-fork-at': String(T0), 'stream-fork-offset': offset(1) }), 'INVALID_PARAMETER')
    expectError(await fork(app, 'bad', 'src', { 'stream-fork-at': 'soon' }), 'INVALID_PARAMETER')
  })

  test('refuses what contradicts its source: another kind, another content type, a fork point past its head', async ({ app, clock }) => {
    await source(app, clock)
    await app.inject({ method: 'PUT', url: '/v1/stream/plain', headers: { 'content-type': 'application/json' } })
    expectError(await fork(app, 'x', 'plain', { 'stream-kind': 'state' }), 'STREAM_CONFLICT')
    expectError(await fork(app, 'x', 'src', { 'content-type': 'text/plain' }), 'CONTENT_TYPE_MISMATCH')
    expectError(await fork(app, 'x', 'src', { 'stream-fork-offset': offset(9) }), 'INVALID_OFFSET')
    expectError(await fork(app, 'x', 'nowhere'), 'STREAM_NOT_FOUND')
    expectError(await fork(app, 'x', 'src', { 'stream-forked-from': 'src' }), 'INVALID_PARAMETER')
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/x' })).statusCode).toBe(404)
  })

  test('copies nothing: its rows are its own entries only, whatever its source holds', async ({ makeApp, clock, tmp, rowCount }) => {
    const file = join(tmp, 'forks.db')
    const app = await makeApp({ file, checkpointMs: 0 })
    await source(app, clock, 50)
    expect((await fork(app, 'f', 'src', { 'stream-fork-offset': offset(40) })).statusCode).toBe(201)
    await append(app, 'f', { merge: { own: 1 } })
    await app.close()
    expect([await rowCount(file, 'entries', 'f'), await rowCount(file, 'snapshots', 'f')]).toEqual([1, 0])
    expect([await rowCount(file, 'entries', 'src'), await rowCount(file, 'snapshots', 'src')]).toEqual([50, 17])
  })
})

describe('forks of forks', () => {
  test('read through every level: each level’s history is its sources’ up to its fork point', async ({ app, clock }) => {
    await source(app, clock, 6)
    expect((await fork(app, 'l1', 'src', { 'stream-fork-offset': offset(4) })).statusCode).toBe(201)
    clock.set(T0 + 100)
    await append(app, 'l1', [{ merge: { l1: 1 } }, { merge: { l1: 2 } }])
    expect((await fork(app, 'l2', 'l1', { 'stream-fork-offset': offset(5) })).statusCode).toBe(201)
    clock.set(T0 + 200)
    await append(app, 'l2', { merge: { l2: true } })
    expect(await stateAt(app, 'l2', 'at=now')).toMatchObject({ seq: 6, state: { n: 4, l1: 1, l2: true } })
    expect(await stateAt(app, 'l2', `at=${T0 + 40}`)).toEqual(await stateAt(app, 'src', `at=${T0 + 40}`))
    expect(await stateAt(app, 'l2', 'seq=5')).toEqual(await stateAt(app, 'l1', 'seq=5'))
    // Windows: S0…S3 is src's at every level. After S3 each level has its own entries 4–6 (src's
    // 4, l1's 5, l2's 6 for l2), each closed by its own snapshot at 6: three different windows.
    const tag = (await window(app, 'src', 'seq=1')).etag
    expect((await window(app, 'l1', 'seq=1')).etag).toBe(tag)
    expect((await window(app, 'l2', 'seq=1')).etag).toBe(tag)
    const l2 = await windowAt(app, 'l2', 'seq=5')
    expect([l2.start?.seq, l2.end?.seq]).toEqual([3, 6])
    expect(l2.entries.map((e) => e.m)).toEqual([{ merge: { n: 4, k4: true } }, { merge: { l1: 1 } }, { merge: { l2: true } }])
    const l1Tag = (await window(app, 'l1', 'seq=5')).etag
    expect(l1Tag).toBeDefined()
    expect((await window(app, 'l2', 'seq=5')).etag).not.toBe(l1Tag)
  })
})

describe('forks and closure', () => {
  test('a fork of a closed stream is open; a source closed after the fork leaves the fork’s windows as they were', async ({ app, clock }) => {
    await source(app, clock, 4)
    expect((await fork(app, 'f', 'src')).statusCode).toBe(201)
    const before = await window(app, 'f', 'at=now')
    // Closing src snapshots its head (entry 4): that snapshot is not the fork's.
    const closed = await app.inject({ method: 'POST', url: '/v1/stream/src', headers: { 'stream-closed': 'true' } })
    expect(closed.statusCode).toBe(204)
    expect((await window(app, 'f', 'at=now')).body).toEqual(before.body)
    expect((await window(app, 'src', 'at=now')).body).toMatchObject({ end: { seq: 4 } })
    // A fork of the closed source shares the closing snapshot: its windows end there.
    expect((await fork(app, 'g', 'src')).statusCode).toBe(201)
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/g' })).headers['stream-closed']).toBeUndefined()
    clock.set(T0 + 100)
    await append(app, 'g', { merge: { g: 1 } })
    const g = await windowAt(app, 'g', 'at=now')
    expect(g.start).toMatchObject({ seq: 4, state: { n: 4 } })
    expect(g.entries.map((e) => e.seq)).toEqual([5])
    expect((await window(app, 'g', 'seq=3')).etag).toBe((await window(app, 'src', 'seq=3')).etag)
  })
})

describe('deleting what forks read through', () => {
  test('a deleted source answers 410 everywhere while its fork lives, and the fork still reads it', async ({ app, clock }) => {
    await source(app, clock, 5)
    expect((await fork(app, 'f', 'src')).statusCode).toBe(201)
    expect((await app.inject({ method: 'DELETE', url: '/v1/stream/src' })).statusCode).toBe(204)
    for (const url of ['/v1/stream/src', '/v1/window/src?at=now', '/v1/windows/src', '/v1/state/src', '/v1/live/src']) {
      expectError(await app.inject({ url }), 'STREAM_DELETED')
    }
    expectError(await post(app, 'src', { merge: {} }), 'STREAM_DELETED')
    expectError(await app.inject({ method: 'DELETE', url: '/v1/stream/src' }), 'STREAM_DELETED')
    expectError(await createStateAgain(app, 'src'), 'STREAM_CONFLICT')
    expectError(await fork(app, 'g', 'src'), 'STREAM_CONFLICT')
    expect(await stateAt(app, 'f', 'at=now')).toMatchObject({ seq: 5, state: { n: 5 } })
    expect((await window(app, 'f', 'seq=1')).body).toMatchObject({ start: { seq: 0 }, end: { seq: 3 } })
    // The last fork gone, the source goes with it: its name is free again.
    expect((await app.inject({ method: 'DELETE', url: '/v1/stream/f' })).statusCode).toBe(204)
    expectError(await app.inject({ method: 'HEAD', url: '/v1/stream/src' }), 'STREAM_NOT_FOUND')
    await createState(app, 'src')
    expect(await stateAt(app, 'src', 'at=now')).toMatchObject({ seq: 0, state: {} })
  })

  test('a chain is collected from its last living fork up, and a middle one deleted keeps reading', async ({ makeApp, clock, tmp, rowCount }) => {
    const file = join(tmp, 'chain.db')
    const app = await makeApp({ file, checkpointMs: 0 })
    await source(app, clock, 3, 'l0')
    await fork(app, 'l1', 'l0')
    clock.set(T0 + 100)
    await append(app, 'l1', { merge: { l1: true } })
    await fork(app, 'l2', 'l1')
    await app.inject({ method: 'DELETE', url: '/v1/stream/l0' })
    await app.inject({ method: 'DELETE', url: '/v1/stream/l1' })
    expect(await stateAt(app, 'l2', 'at=now')).toMatchObject({ seq: 4, state: { n: 3, l1: true } })
    expect((await app.inject({ method: 'DELETE', url: '/v1/stream/l2' })).statusCode).toBe(204)
    for (const name of ['l0', 'l1', 'l2']) expectError(await app.inject({ method: 'HEAD', url: `/v1/stream/${name}` }), 'STREAM_NOT_FOUND')
    await app.close()
    expect([await rowCount(file, 'streams'), await rowCount(file, 'entries'), await rowCount(file, 'snapshots')]).toEqual([0, 0, 0])
  })

  test('a source that expires while a fork lives is gone (410) but still read through; the fork’s own expiry releases it', async ({ app, clock }) => {
    clock.set(T0)
    await app.inject({ method: 'PUT', url: '/v1/stream/src', headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-ttl': '10' } })
    await append(app, 'src', { set: { v: 1 } })
    const res = await fork(app, 'f', 'src', { 'stream-ttl': '30' })
    expect(res.statusCode).toBe(201)
    clock.set(T0 + 20_000)
    // Reading the fork does not keep its source alive.
    expect(await stateAt(app, 'f', 'at=now')).toMatchObject({ state: { v: 1 } })
    expectError(await app.inject({ method: 'HEAD', url: '/v1/stream/src' }), 'STREAM_DELETED')
    clock.set(T0 + 51_000)
    expectError(await app.inject({ method: 'HEAD', url: '/v1/stream/f' }), 'STREAM_NOT_FOUND')
    expectError(await app.inject({ method: 'HEAD', url: '/v1/stream/src' }), 'STREAM_NOT_FOUND')
  })
})

describe('PUT of an existing fork', () => {
  test('the same configuration is 200; another fork point, source or policy is 409', async ({ app, clock }) => {
    await source(app, clock)
    await createState(app, 'other')
    expect((await fork(app, 'f', 'src', { 'stream-fork-offset': offset(4) })).statusCode).toBe(201)
    expect((await fork(app, 'f', 'src', { 'stream-fork-offset': offset(4) })).statusCode).toBe(200)
    // Without a point it only has to be a fork of that source.
    expect((await fork(app, 'f', 'src')).statusCode).toBe(200)
    expectError(await fork(app, 'f', 'src', { 'stream-fork-offset': offset(5) }), 'STREAM_CONFLICT')
    expectError(await fork(app, 'f', 'other'), 'STREAM_CONFLICT')
    expectError(await fork(app, 'f', 'src', { 'stream-snapshot-entries': '7' }), 'STREAM_CONFLICT')
    expectError(await createStateAgain(app, 'f'), 'STREAM_CONFLICT')
  })
})

/** A plain state-stream PUT of `name` (no fork headers), whatever it answers. */
function createStateAgain(app: FastifyInstance, name: string): Promise<Response> {
  return app.inject({ method: 'PUT', url: `/v1/stream/${name}`, headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
}
