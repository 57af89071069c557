/**
 * What reads cost the store: a read of a `Stream-TTL` stream restarts its expiry in memory and
 * writes nothing (the next group commit carries it, or a commit of its own a second later), an
 * invalid read restarts nothing, and head states are held within a budget in bytes.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import type { Json } from '@statestream/common'
import { describe, expect } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import { append, createState, expectError, stateHeaders, test } from './support.ts'

const T = 1_700_000_000_000

describe('reads of TTL streams', () => {
  test('write nothing: the touch rides on the next commit, and survives a restart', async ({ makeApp, clock, tmp }) => {
    const file = join(tmp, 'touch.db')
    clock.set(T)
    const app = await makeApp({ file, checkpointMs: 0 })
    await app.inject({ method: 'PUT', url: '/v1/stream/t', headers: { ...stateHeaders(), 'stream-ttl': '10' } })
    await append(app, 't', { set: { a: 1 } })
    // A second connection sees `data_version` change exactly when another connection commits.
    const watcher = new Database(file, { readonly: true })
    const version = (): number => watcher.pragma('data_version', { simple: true }) as number
    const touched = (): number => (watcher.prepare("SELECT touched_ts FROM streams WHERE name = 't'").get() as { touched_ts: number }).touched_ts
    const before = version()
    clock.set(T + 5_000)
    for (const url of ['/v1/stream/t?offset=-1', '/v1/state/t', '/v1/window/t?at=now', '/v1/windows/t', '/v1/state/t?seq=1']) {
      for (let i = 0; i < 20; i++) expect((await app.inject({ url })).statusCode).toBe(200)
    }
    expect(version(), 'a read wrote to the database').toBe(before)
    expect(touched()).toBe(T)
    // The next write of anything carries the touch.
    await app.inject({ method: 'PUT', url: '/v1/stream/other', headers: { 'content-type': 'text/plain' } })
    expect(touched()).toBe(T + 5_000)
    // A read after that is written when the app closes; a fresh process knows it.
    clock.set(T + 9_000)
    await app.inject({ url: '/v1/state/t' })
    await app.close()
    expect(touched()).toBe(T + 9_000)
    watcher.close()
    clock.set(T + 18_000)
    const again = await makeApp({ file, checkpointMs: 0 })
    expect((await again.inject({ url: '/v1/state/t' })).statusCode).toBe(200)
  })

  test('a read that is refused restarts nothing', async ({ app, clock }) => {
    clock.set(T)
    await app.inject({ method: 'PUT', url: '/v1/stream/t', headers: { ...stateHeaders(), 'stream-ttl': '10' } })
    clock.set(T + 9_000)
    for (const url of ['/v1/stream/t?offset=bogus', '/v1/state/t?at=yesterday', '/v1/window/t', '/v1/windows/t?from=9&to=1', '/v1/stream/t?offset=-1&live=maybe']) {
      expect((await app.inject({ url })).statusCode, url).toBe(400)
    }
    clock.set(T + 10_000)
    expectError(await app.inject({ url: '/v1/state/t' }), 'STREAM_NOT_FOUND')
  })

  test('with nothing else to commit, a read is written by a commit of its own within about a second', async ({ clock, tmp }) => {
    const file = join(tmp, 'alone.db')
    clock.set(T)
    const store = new StreamStore({ file, now: clock.now, checkpointMs: 0 })
    await store.create({ name: 't', contentType: 'text/plain', kind: 'plain', ttlSeconds: 60 })
    clock.set(T + 1_000)
    store.touch('t')
    const watcher = new Database(file, { readonly: true })
    // Its creation is its first touch (a fork's history begins before it, so that is on record).
    const touched = (): number | null => (watcher.prepare("SELECT touched_ts FROM streams WHERE name = 't'").get() as { touched_ts: number | null }).touched_ts
    expect(touched()).toBe(T)
    // Polls the file until the commit lands (the timer is real; the bound is generous).
    const deadline = Date.now() + 20_000
    while (touched() !== T + 1_000 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
    expect(touched()).toBe(T + 1_000)
    watcher.close()
    await store.close()
  })
})

describe('the head-state cache', () => {
  test('holds head states within its budget in bytes, and rebuilds the others when asked', async ({ makeApp }) => {
    const budget = 64 * 1024
    const store = new StreamStore({ stateCacheBytes: budget })
    const app = await makeApp({ store })
    const big = 'x'.repeat(4 * 1024)
    const names = Array.from({ length: 100 }, (_, i) => `s/${i}`)
    for (const name of names) {
      await createState(app, name, { entries: 3 })
      for (let i = 0; i < 5; i++) await append(app, name, { merge: { [`k${i}`]: big, i } })
    }
    // 100 streams of about 20 KB each: far more than the budget.
    for (const name of names) {
      const res = await app.inject({ url: `/v1/state/${name}` })
      const state = res.json<{ seq: number; state: Record<string, Json> }>()
      expect(state.seq).toBe(5)
      expect(Object.keys(state.state)).toHaveLength(6)
      expect(state.state.i).toBe(4)
    }
    expect(store.stateCache.bytes).toBeLessThanOrEqual(budget)
    expect(store.stateCache.streams).toBeGreaterThan(0)
    expect(store.stateCache.streams).toBeLessThan(names.length)
    await app.close()
    await store.close()
  })

  test('a store counts held states by the size of their JSON text', async () => {
    const store = new StreamStore({ stateCacheBytes: 1024 * 1024 })
    await store.create({ name: 'a', contentType: 'application/json', kind: 'state' })
    const value = 'y'.repeat(10_000)
    await store.append({ name: 'a', contentType: 'application/json', body: Buffer.from(JSON.stringify({ set: { value } })) })
    const { bytes, streams } = store.stateCache
    expect(streams).toBe(1)
    // The estimate covers the state's text and does not run far past it.
    expect(bytes).toBeGreaterThanOrEqual(JSON.stringify({ value }).length)
    expect(bytes).toBeLessThan(3 * JSON.stringify({ value }).length)
    // A budget smaller than one state holds nothing, and the state is still served.
    const tiny = new StreamStore({ stateCacheBytes: 100 })
    await tiny.create({ name: 'a', contentType: 'application/json', kind: 'state' })
    await tiny.append({ name: 'a', contentType: 'application/json', body: Buffer.from(JSON.stringify({ set: { value } })) })
    expect(tiny.stateCache.bytes).toBeLessThanOrEqual(100)
    expect((await tiny.headState('a')).state).toEqual({ value })
    await store.close()
    await tiny.close()
  })

  test('a budget of 0 holds no head state, and every state is still served (rebuilt from the log)', async () => {
    // `--state-cache-bytes 0` is a valid setting: the store must open with it.
    const none = new StreamStore({ stateCacheBytes: 0 })
    try {
      await none.create({ name: 'a', contentType: 'application/json', kind: 'state' })
      for (let i = 0; i < 5; i++) await none.append({ name: 'a', contentType: 'application/json', body: Buffer.from(JSON.stringify({ merge: { [`k${i}`]: i } })) })
      expect(none.stateCache).toEqual({ bytes: 0, streams: 0 })
      expect(await none.headState('a')).toMatchObject({ seq: 5, state: { k0: 0, k1: 1, k2: 2, k3: 3, k4: 4 } })
    } finally {
      await none.close()
    }
  })
})
