import { expect, test } from 'vitest'
import type { Json } from '@statestream/common'
import { MemoryBudget } from '../src/core/budget.ts'
import type { HeldModel } from '../src/core/window-machine.ts'
import { WindowStore } from '../src/window-store.ts'
import type { WindowSource } from '../src/window-store.ts'
import { FakeHistory } from './support/fake-history.ts'

function storeOf(source: WindowSource, maxBytes?: number): WindowStore {
  return new WindowStore(source, new MemoryBudget(maxBytes))
}

function models(store: WindowStore): HeldModel[] {
  return store.index.held.map((slot) => slot.model)
}

/** Ten closed windows of five entries each, 10 ms apart. */
function history(): FakeHistory {
  const server = new FakeHistory(0)
  for (let i = 1; i <= 50; i++) server.append({ merge: { i, pad: 'x'.repeat(200) } }, 10, i % 5 === 0)
  return server
}

test('concurrent requests for one missing window share one fetch', async () => {
  const server = history()
  const store = storeOf(server)
  await Promise.all([store.stateAt(12), store.stateAt(12), store.stateAt(15), store.stateAt(30)])
  expect(server.fetches).toBe(1)
  expect(await store.stateAt(45)).toMatchObject({ seq: 4 })
  expect(server.fetches).toBe(1)
})

test('requests for windows known to differ do not wait on each other', async () => {
  const server = history()
  let inFlight = 0
  let most = 0
  const slow = storeOf({
    fetch: async (point, after, onPartial) => {
      inFlight += 1
      most = Math.max(most, inFlight)
      await new Promise((resolve) => setImmediate(resolve))
      inFlight -= 1
      return server.fetch(point, after, onPartial)
    },
  })
  await Promise.all([0, 5, 10, 15].map((seq) => slow.windowFor({ start: { seq, ts: seq * 10 }, end: { seq: seq + 5, ts: seq * 10 + 50 } })))
  expect(most).toBe(4)
})

test('a failed fetch rejects its waiters and is fetched again by the next request', async () => {
  const server = history()
  const store = storeOf(server)
  server.failNext(1)
  const results = await Promise.allSettled([store.stateAt(120), store.stateAt(120)])
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected'])
  expect(models(store)).toEqual([])
  expect((await store.stateAt(120))?.seq).toBe(12)
  expect(server.fetches).toBe(2)
})

test('the memory budget evicts the least recently used committed windows, never one being read', async () => {
  const server = history()
  const store = storeOf(server, 3_000)
  for (let ts = 5; ts < 500; ts += 50) await store.stateAt(ts)
  expect(store.index.bytes).toBeLessThanOrEqual(3_000)
  expect(models(store).length).toBeLessThan(10)
  // A pinned window survives pressure until released.
  const pinned = await store.windowFor({ start: { seq: 0, ts: 0 }, end: { seq: 5, ts: 50 } })
  for (let ts = 105; ts < 500; ts += 50) await store.stateAt(ts)
  expect(models(store).some((m) => m.start.seq === 0)).toBe(true)
  store.release(pinned.start?.seq ?? -1)
  // Whatever was evicted answers correctly when asked again.
  for (let ts = 5; ts < 500; ts += 50) expect((await store.stateAt(ts))?.seq).toBe(Math.floor(ts / 10))
})

test('a held range answers without a listing only when it has no gap', async () => {
  const server = history()
  const store = storeOf(server)
  await store.stateAt(5)
  await store.stateAt(105)
  expect(store.heldRange(5, 60)).toBeUndefined()
  await store.stateAt(55)
  expect(store.heldRange(5, 140)?.map((span) => span.start.seq)).toEqual([0, 5, 10])
})

/**
 * Eight closed windows of four entries over a state of 8 groups × 8 members; each entry changes one
 * member of one group. Starts arrive as independent parsed copies, as from the wire.
 */
function nested(): { server: FakeHistory; store: WindowStore } {
  const server = new FakeHistory(0)
  const members = (g: number): Record<string, string> => Object.fromEntries(Array.from({ length: 8 }, (_, k) => [`k${k}`, `${g}.${k}`]))
  server.append({ set: Object.fromEntries(Array.from({ length: 8 }, (_, g) => [`g${g}`, members(g)])) }, 10, true)
  for (let n = 0; n < 32; n++) server.append({ merge: { [`g${(n * 3) % 8}`]: { [`k${n % 8}`]: `changed ${n}` } } }, 10, n % 4 === 3)
  const store = storeOf({
    fetch: async (point, after, onPartial) => {
      const answer = await server.fetch(point, after, onPartial)
      return { ...answer, data: structuredClone(answer.data) }
    },
  })
  return { server, store }
}

type Groups = Record<string, Record<string, string>>

test.for([
  ['in order', [1, 5, 9, 13, 17, 21, 25, 29]],
  ['in reverse', [29, 25, 21, 17, 13, 9, 5, 1]],
  ['scattered', [13, 1, 29, 9, 21, 5, 25, 17]],
] as const)('consecutive held windows fetched %s share every untouched subtree of their start states', async ([, seqs]) => {
  const { server, store } = nested()
  for (const seq of seqs) await store.window({ seq })
  const held = models(store).filter((model) => model.status === 'committed')
  expect(held.map((model) => model.start.seq)).toEqual([1, 5, 9, 13, 17, 21, 25, 29])
  for (let i = 1; i < held.length; i++) {
    const previous = held[i - 1] as (typeof held)[number]
    const current = held[i] as (typeof held)[number]
    // The start states stay what the server holds at those bounds.
    expect(current.start.state).toEqual(server.snapshots.find((s) => s.seq === current.start.seq)?.state)
    const before = previous.start.state as Groups
    const after = current.start.state as Groups
    const touched = new Map<string, Set<string>>()
    for (const entry of previous.entries) {
      for (const [group, change] of Object.entries((entry.m as { merge: Groups }).merge)) {
        for (const member of Object.keys(change)) touched.set(group, (touched.get(group) ?? new Set()).add(member))
      }
    }
    for (const group of Object.keys(before)) {
      const members = touched.get(group)
      if (members === undefined) {
        expect(after[group]).toBe(before[group])
        continue
      }
      expect(after[group]).not.toBe(before[group])
      for (const member of Object.keys(before[group] as object)) {
        if (!members.has(member)) expect(after[group]?.[member]).toBe(before[group]?.[member])
      }
    }
  }
  // States answered from the shared windows are still the server's.
  for (const seq of [1, 6, 12, 17, 23, 32]) expect((await store.stateAtSeq(seq)).state).toEqual(server.stateAt(seq * 10 + 0))
})

test('a reader replaying pinned windows through the store gives each the state it reached; one it did not reach is derived on release', async () => {
  const { server, store } = nested()
  const span = (seq: number) => ({ start: { seq, ts: seq * 10 }, end: { seq: seq + 4, ts: seq * 10 + 40 } })
  const [first, second, third] = await Promise.all([1, 5, 9].map((seq) => store.windowFor(span(seq))))
  const startOf = (seq: number): Groups => models(store).find((m) => m.status === 'committed' && m.start.seq === seq)?.start.state as Groups
  // Pinned, their starts wait for the reader: still the server's own copies, sharing nothing.
  // (g2 is a group the first window's entries leave alone.)
  expect(startOf(5).g2).not.toBe(startOf(1).g2)
  expect(startOf(5).g2).toEqual(startOf(1).g2)

  // The reader replays the first window to its end, through the store.
  let reached: Json = null
  store.replay(first!, 0, first!.start!.state, (_entry, state) => ((reached = state), true))
  expect(startOf(5)).toBe(reached)
  const fetches = server.fetches
  store.release(1)
  store.release(5)
  expect(startOf(5)).toBe(reached)

  // A replay that stops early remembers nothing.
  store.replay(second!, 0, second!.start!.state, () => false)
  // The third was never given a state: releasing it derives its start from the second.
  expect(startOf(9).g0).not.toBe(startOf(5).g0)
  store.release(9)
  const before = startOf(5)
  const after = startOf(9)
  expect(after).toEqual(server.snapshots.find((s) => s.seq === 9)?.state)
  const touched = new Set((second?.entries ?? []).flatMap((e) => Object.keys((e.m as { merge: Groups }).merge)))
  for (const group of Object.keys(before)) if (!touched.has(group)) expect(after[group]).toBe(before[group])
  expect(third?.start?.seq).toBe(9)
  expect(server.fetches).toBe(fetches)
  // Everything still answers as the server does.
  for (const seq of [2, 5, 8, 12]) expect((await store.stateAtSeq(seq)).state).toEqual(server.stateAt(seq * 10))
})

test('windows only a history read are evicted first, the last fetched first, so a long read keeps its beginning and pushes out nothing else', async () => {
  const server = history()
  const size = (await server.fetch({ seq: 5 }, undefined, () => undefined)).size
  const store = storeOf(server, Math.floor(size * 4.5))
  // A window used by a point read: it must outlive any history.
  await store.stateAt(5)
  // A history reading windows 1..9 in order, pinning each while it reads it.
  const read = async (from: number): Promise<void> => {
    for (let w = from; w < 10; w++) {
      const span = { start: { seq: w * 5, ts: w * 50 }, end: { seq: w * 5 + 5, ts: w * 50 + 50 } }
      const window = await store.windowFor(span)
      expect(window.start?.seq).toBe(w * 5)
      store.release(w * 5)
    }
  }
  await read(1)
  const held = () => models(store).flatMap((m) => (m.status === 'committed' ? [m.start.seq] : []))
  expect(store.index.bytes).toBeLessThanOrEqual(Math.floor(size * 4.5))
  // The point read's window, the read's first windows, and its last (nothing came after it to push it out).
  const kept = held()
  expect(kept.slice(0, 3)).toEqual([0, 5, 10])
  expect(kept[kept.length - 1]).toBe(45)
  expect(kept).not.toContain(30)
  // Reading the range again fetches none of the beginning kept (the last, the most recently fetched,
  // goes first when the read needs room), and keeps the same windows.
  const beginning = kept.filter((seq) => seq > 0 && seq < 45)
  const fetches = server.fetches
  await read(1)
  expect(server.fetches - fetches).toBe(9 - beginning.length)
  expect(held()).toEqual(kept)
  // A point read makes a window an ordinary one: the next long read evicts the other scanned ones before it.
  await store.stateAt(105)
  await read(4)
  expect(held()).toContain(0)
  expect(held()).toContain(10)
  expect(store.index.bytes).toBeLessThanOrEqual(Math.floor(size * 4.5))
})

test('windows sharing one large start state count it once against the budget, and the run that shares it goes as a whole', async () => {
  // A 40 kB state, then small entries: 4 per window, 15 windows.
  const server = new FakeHistory(0)
  server.append({ set: { big: Object.fromEntries(Array.from({ length: 40 }, (_, g) => [`g${g}`, 'x'.repeat(1000)])), n: 0 } }, 10, false)
  for (let i = 1; i < 60; i++) server.append({ merge: { n: i } }, 10, i % 4 === 3)
  const state = JSON.stringify(server.stateAt(1_000)).length
  const store = storeOf(
    {
      fetch: async (point, after, onPartial) => {
        const answer = await server.fetch(point, after, onPartial)
        return { ...answer, data: structuredClone(answer.data) }
      },
    },
    Math.round(state * 2.5),
  )
  const held = () => models(store).flatMap((m) => (m.status === 'committed' ? [m.start.seq] : []))
  // A run of ten windows in order: about one state and their entries.
  for (let seq = 4; seq <= 40; seq += 4) await store.window({ seq })
  expect(held()).toEqual([4, 8, 12, 16, 20, 24, 28, 32, 36, 40])
  expect(store.index.bytes).toBeLessThan(state * 1.5)
  // A window apart from the run carries its own copy of the state: two states now.
  await store.window({ seq: 50 })
  expect(held()).toEqual([4, 8, 12, 16, 20, 24, 28, 32, 36, 40, 48])
  expect(store.index.bytes).toBeGreaterThan(state * 2)
  // A third copy passes the budget: the least recently used run is evicted until its state is freed,
  // which takes every window of it.
  await store.window({ seq: 58 })
  expect(held()).toEqual([48, 56])
  expect(store.index.bytes).toBeLessThanOrEqual(Math.round(state * 2.5))
  expect(server.fetches).toBe(12)
})
