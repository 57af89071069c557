import { expect, test } from 'vitest'
import { WindowStore } from '../src/index.ts'
import { FakeHistory } from './support/fake-history.ts'

/** Ten closed windows of five entries each, 10 ms apart. */
function history(): FakeHistory {
  const server = new FakeHistory(0)
  for (let i = 1; i <= 50; i++) server.append({ merge: { i, pad: 'x'.repeat(200) } }, 10, i % 5 === 0)
  return server
}

test('concurrent requests for one missing window share one fetch', async () => {
  const server = history()
  const store = new WindowStore({ fetch: (q) => server.window(q) })
  await Promise.all([store.stateAt(12), store.stateAt(12), store.stateAt(15), store.stateAt(30)])
  expect(server.fetches).toBe(1)
  expect(await store.stateAt(45)).toMatchObject({ seq: 4 })
  expect(server.fetches).toBe(1)
})

test('requests for windows known to differ do not wait on each other', async () => {
  const server = history()
  let inFlight = 0
  let most = 0
  const slow = new WindowStore({
    fetch: async (q) => {
      inFlight += 1
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setImmediate(resolve))
      inFlight -= 1
      return server.window(q)
    },
  })
  await Promise.all([0, 5, 10, 15].map((seq) => slow.windowFor({ start: { seq, ts: seq * 10 }, end: { seq: seq + 5, ts: seq * 10 + 50 } })))
  expect(most).toBe(4)
})

test('a failed fetch rejects its waiters and is fetched again by the next request', async () => {
  const server = history()
  const store = new WindowStore({ fetch: (q) => server.window(q) })
  server.failNext(1)
  const results = await Promise.allSettled([store.stateAt(120), store.stateAt(120)])
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  expect(store.models()).toEqual([])
  expect((await store.stateAt(120))?.seq).toBe(12)
  expect(server.fetches).toBe(2)
})

test('the memory budget evicts the least recently used committed windows, never one being read', async () => {
  const server = history()
  const store = new WindowStore({ fetch: (q) => server.window(q), maxBytes: 3_000 })
  for (let ts = 5; ts < 500; ts += 50) await store.stateAt(ts)
  expect(store.bytes).toBeLessThanOrEqual(3_000)
  expect(store.models().length).toBeLessThan(10)
  // A pinned window survives pressure until released.
  const pinned = await store.windowFor({ start: { seq: 0, ts: 0 }, end: { seq: 5, ts: 50 } })
  for (let ts = 105; ts < 500; ts += 50) await store.stateAt(ts)
  expect(store.models().some((m) => m.state !== 'pending' && m.start.seq === 0)).toBe(true)
  store.release(pinned.start?.seq ?? -1)
  // Whatever was evicted answers correctly when asked again.
  for (let ts = 5; ts < 500; ts += 50) expect((await store.stateAt(ts))?.seq).toBe(Math.floor(ts / 10))
})

test('a held range answers without a listing only when it has no gap', async () => {
  const server = history()
  const store = new WindowStore({ fetch: (q) => server.window(q) })
  await store.stateAt(5)
  await store.stateAt(105)
  expect(store.heldRange(5, 60)).toBeUndefined()
  await store.stateAt(55)
  expect(store.heldRange(5, 140)?.map((span) => span.start.seq)).toEqual([0, 5, 10])
})
