/**
 * One memory budget per client, across all its streams, and stream state let go of once unused:
 * a client reading many streams holds at most `maxBytes` of windows in all, and keeps state only
 * for the streams that still hold windows or are in use.
 */
import { expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import { first } from './support/observe.ts'

test('the budget holds across streams, and streams whose windows went are let go of', async ({ serve, connect }) => {
  const server = await serve()
  const writer = connect(server.url).client
  const names = Array.from({ length: 60 }, (_, i) => `budget/s${i}`)
  const pad = 'x'.repeat(1_000)
  for (const name of names) {
    await writer.stream(name).create({ snapshot: { entries: 10 } })
    await writer.stream(name).append(Array.from({ length: 10 }, (_, i) => merge({ i, pad })))
  }
  // Each stream's closed window is about 10 kB: the budget holds about five of them.
  const maxBytes = 50_000
  const { client } = connect(server.url, { maxBytes })
  for (const name of names) expect((await client.stream(name).window({ seq: 5 })).entries).toHaveLength(10)
  const stats = client.stats()
  expect(stats.bytes).toBeLessThanOrEqual(maxBytes)
  expect(stats.maxBytes).toBe(maxBytes)
  // Per stream a budget of 50 kB would have kept all 60 windows (600 kB); one budget keeps a few.
  expect(stats.windows).toBeLessThan(10)
  expect(stats.streams).toBeLessThan(15)
  // The most recently read stream is still held: reading it again costs nothing.
  const before = server.served.requests.length
  await client.stream(names.at(-1)!).window({ seq: 5 })
  expect(server.served.requests.length).toBe(before)
})

test('a stream in use stays, windows and all, whatever the budget', async ({ serve, connect }) => {
  const server = await serve({ heartbeatMs: 200 })
  const writer = connect(server.url).client
  await writer.stream('budget/live').create()
  await writer.stream('budget/live').append(merge({ n: 1 }))
  const { client } = connect(server.url, { maxBytes: 1 })
  const stream = client.stream<{ n: number }>('budget/live')
  const subscription = stream.live$.subscribe()
  await first(stream.status$, (s) => s === 'live')
  expect(client.stats()).toMatchObject({ streams: 1, windows: 1 })
  subscription.unsubscribe()
  // Unused now, its open window (not evictable: it is the resume point) keeps its state until it goes.
  expect((await first(stream.live$)).state).toEqual({ n: 1 })
})
