/**
 * Many sources: `client.live([...])` on one multiplexed connection with the gpos clock, resumed by
 * Last-Event-ID across a cut; `client.statesAt` lining streams up at one time.
 */
import type { MultiLiveState } from '@statestream/client'
import { expect } from 'vitest'
import { clientTest as test, merge, testClock } from './support/count-requests.ts'
import { first } from './support/observe.ts'

test('several streams on one connection: current states, then entries in gpos order, across a cut', async ({ serve, connect, proxy }) => {
  const server = await serve({ heartbeatMs: 100, clockMs: 100 })
  const net = await proxy(server.url)
  const writer = connect(server.url).client
  for (const name of ['m/a', 'm/b']) await writer.stream(name).create({ messages: [{ set: { name } }] })
  const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } })
  const live = client.live<{ name: string; n?: number }>(['m/a', 'm/b'])
  const seen: Array<MultiLiveState<{ name: string; n?: number }>> = []
  const subscription = live.states$.subscribe((s) => seen.push(s))
  const tick = await first(live.clock$)
  expect(tick.gpos).toBeGreaterThanOrEqual(2)
  await first(live.status$, (s) => s === 'live')
  for (let n = 1; n <= 10; n++) {
    await writer.stream(n % 2 === 0 ? 'm/a' : 'm/b').append(merge({ n }))
    if (n === 5) net.cut()
  }
  await first(live.states$, (s) => s.stream === 'm/a' && s.seq === 6)
  await first(live.states$, (s) => s.stream === 'm/b' && s.seq === 6)
  subscription.unsubscribe()
  // First each stream's current state, then every entry once, gpos increasing.
  expect(seen.slice(0, 2).map((s) => [s.stream, s.seq])).toEqual([['m/a', 1], ['m/b', 1]])
  const entries = seen.slice(2)
  expect(entries.map((s) => s.state.n)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  expect(entries.map((s) => s.gpos)).toEqual([...entries.map((s) => s.gpos)].sort((x, y) => x - y))
  const lives = server.served.requests.filter((line) => line.startsWith('GET /v1/live?'))
  expect(lives.length).toBeGreaterThanOrEqual(2)
  expect(server.served.count('/v1/window/')).toBe(0)
  // The live windows landed in each stream's store: reading the present costs no request.
  const before = server.served.requests.length
  expect(await client.stream('m/a').stateAt(Number.MAX_SAFE_INTEGER - 1)).toBeDefined()
  expect(server.served.requests.length).toBe(before + 1) // not tailed any more: one `after=` check
})

test('statesAt lines several streams up at one time, from held windows when it can', async ({ serve, connect }) => {
  const clock = testClock()
  const server = await serve({ now: clock.now })
  const { client } = connect(server.url)
  const created = clock.now()
  await client.stream('g/a').create({ snapshot: { entries: 3 } })
  for (let i = 1; i <= 6; i++) {
    clock.advance(10)
    await client.stream('g/a').append(merge({ a: i }))
  }
  await client.stream('g/b').create()
  for (let i = 1; i <= 3; i++) {
    clock.advance(10)
    await client.stream('g/b').append(merge({ b: i }))
  }
  const at = created + 35
  expect(await client.statesAt(['g/a', 'g/b'], at)).toEqual({
    'g/a': { seq: 3, ts: created + 30, state: { a: 3 } },
    'g/b': undefined,
  })
  const before = server.served.requests.length
  await client.statesAt(['g/a', 'g/b'], at)
  expect(server.served.requests.length).toBe(before)
})
