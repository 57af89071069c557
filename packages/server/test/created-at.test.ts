/**
 * `Stream-Created-At` on a create: the stream begins at that (earlier) time — its seq-0
 * snapshot, the state before it, and the time-based snapshot policy all count from it.
 */
import { describe, expect } from 'vitest'
import { expectError, getJson, post, stateAt, stateHeaders, test, windowAt } from './support.ts'

describe('Stream-Created-At', () => {
  test('dates the creation back: the first window, the state before it, ms snapshots and entry ts', async ({ app, clock }) => {
    const created = clock.t - 100_000
    const put = await app.inject({
      method: 'PUT',
      url: '/v1/stream/w/a',
      headers: { ...stateHeaders({ ms: 10_000 }), 'stream-created-at': String(created) },
    })
    expect(put.statusCode).toBe(201)
    expect((await windowAt(app, 'w/a', 'seq=0')).start).toEqual({ seq: 0, ts: created, state: {} })
    expect(await stateAt(app, 'w/a', `at=${created - 1}`)).toEqual({ seq: null, ts: null, state: null })
    expect(await stateAt(app, 'w/a', `at=${created}`)).toEqual({ seq: 0, ts: created, state: {} })
    // Entries may carry ts from the creation on; 10 s of stream time after it, a snapshot.
    expect((await post(app, 'w/a', [{ set: { n: 1 }, ts: created + 5_000 }, { merge: { n: 2 }, ts: created + 10_000 }])).statusCode).toBe(204)
    const { windows } = await getJson<{ windows: Array<{ start: { seq: number; ts: number } }> }>(app, '/v1/windows/w/a')
    expect(windows.map((window) => window.start)).toEqual([
      { seq: 0, ts: created },
      { seq: 2, ts: created + 10_000 },
    ])
    expectError(await post(app, 'w/a', { merge: { n: 3 }, ts: created - 1 }), 'TS_REGRESSION')
    // A create of the existing stream with the same configuration is still the same stream.
    const again = await app.inject({ method: 'PUT', url: '/v1/stream/w/a', headers: { ...stateHeaders({ ms: 10_000 }), 'stream-created-at': String(created) } })
    expect(again.statusCode).toBe(200)
  })

  test.for([
    ['in the future', (now: number) => String(now + 1), 'INVALID_PARAMETER'],
    ['not an integer', () => '12.5', 'INVALID_PARAMETER'],
    ['not a number', () => 'yesterday', 'INVALID_PARAMETER'],
  ] as const)('refused when %s', async ([, value, code], { app, clock }) => {
    const res = await app.inject({ method: 'PUT', url: '/v1/stream/w/b', headers: { ...stateHeaders(), 'stream-created-at': value(clock.t) } })
    expectError(res, code)
    expect((await app.inject({ method: 'HEAD', url: '/v1/stream/w/b' })).statusCode).toBe(404)
  })

  test('refused with a fork, which begins with its source', async ({ app }) => {
    await app.inject({ method: 'PUT', url: '/v1/stream/w/src', headers: stateHeaders() })
    const res = await app.inject({
      method: 'PUT',
      url: '/v1/stream/w/fork',
      headers: { ...stateHeaders(), 'stream-forked-from': '/v1/stream/w/src', 'stream-created-at': '1' },
    })
    expectError(res, 'INVALID_PARAMETER')
  })
})
