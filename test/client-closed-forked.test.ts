/**
 * The client on closed and forked state streams (design §2.1, §3): a closure reaches `live$` as
 * the final state and then its completion (no reconnecting to a stream that will never change),
 * the last window is committed at the last entry with no open window after it, and `history`
 * without `to` ends there. A fork reads like any state stream: before its fork point its states
 * and windows are its source's, after it its own, live.
 */
import type { Json } from '@statestream/common'
import type { LiveState } from '@statestream/client'
import { describe, expect } from 'vitest'
import { clientTest as test, merge, testClock } from './support/count-requests.ts'
import { collect, first } from './support/observe.ts'

const liveRequests = (requests: readonly string[]): string[] => requests.filter((line) => line.includes('/v1/live'))

describe('a closed stream', () => {
  test('live$ gets the entries closed with the stream, the final state, then completes; no reconnect follows', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    const stream = client.stream('closing/a')
    await stream.create({ snapshot: { entries: 100 } })
    await stream.append(merge({ a: 1 }))
    const statuses: string[] = []
    stream.status$.subscribe((status) => statuses.push(status))
    const values = collect(stream.live$)
    await first(stream.live$)
    await stream.append(merge({ a: 2 }))
    await stream.close()
    const seen = (await values) as LiveState[]
    expect(seen.map((value) => [value.seq, value.state])).toEqual([
      [1, { a: 1 }],
      [2, { a: 2 }],
    ])
    expect(statuses[statuses.length - 1]).toBe('closed')
    expect(liveRequests(server.served.requests)).toEqual(['GET /v1/live/closing/a'])
    // Its windows: the last is committed at the last entry, and nothing is open after it.
    const windows = await first(stream.windows$)
    expect(windows.map((window) => [window.status, window.start?.seq, window.end?.seq ?? null])).toEqual([['committed', 0, 2]])
    expect(await stream.stateAt(Date.now() + 3_600_000)).toEqual({ a: 2 })
  })

  test('a subscriber arriving after the closure gets the final state and completion at once', async ({ serve, connect }) => {
    const server = await serve()
    const writer = connect(server.url).client.stream('closed/b')
    await writer.create({ snapshot: { entries: 2 } })
    for (let i = 1; i <= 3; i++) await writer.append(merge({ i }))
    await writer.close()
    const { client } = connect(server.url)
    const stream = client.stream('closed/b')
    const seen = (await collect(stream.live$)) as LiveState[]
    expect(seen.map((value) => [value.seq, value.state, value.entry])).toEqual([[3, { i: 3 }, undefined]])
    const window = await stream.window({ at: Date.now() + 3_600_000 })
    expect([window.status, window.start?.seq, window.end?.seq]).toEqual(['committed', 2, 3])
    // A history without `to` runs to the end and completes.
    const states = (await collect(stream.history({ from: 0 }))) as LiveState[]
    expect(states.map((state) => state.seq)).toEqual([0, 1, 2, 3])
  })

  test('every point at or after the last entry falls in the last window, for a client that never tailed it', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const writer = connect(server.url).client
    const stream = writer.stream('ended/a')
    await stream.create({ snapshot: { entries: 3 } })
    for (let i = 1; i <= 4; i++) {
      clock.advance(10)
      await stream.append(merge({ i }))
    }
    await writer.stream('ended/empty').create()
    await stream.close()
    await writer.stream('ended/empty').close()
    const last = clock.now()
    const reader = () => connect(server.url).client
    expect(await reader().stream('ended/a').stateAt(last)).toEqual({ i: 4 })
    expect(await reader().stream('ended/a').stateAt(last + 3_600_000)).toEqual({ i: 4 })
    const lastWindow = (window: { status: string; start: { seq: number } | null; end: { seq: number } | null }) => [window.status, window.start?.seq, window.end?.seq]
    expect(lastWindow(await reader().stream('ended/a').window({ at: 'now' }))).toEqual(['committed', 3, 4])
    expect(lastWindow(await reader().stream('ended/a').window({ seq: 4 }))).toEqual(['committed', 3, 4])
    expect(await reader().statesAt(['ended/a', 'ended/empty'], last + 1)).toEqual({ 'ended/a': { i: 4 }, 'ended/empty': {} })
    // The same client asks again: the held last window answers, with no request.
    const client = reader()
    await client.stream('ended/a').window({ at: last })
    const before = server.served.requests.length
    expect(await client.stream('ended/a').stateAt(last + 1)).toEqual({ i: 4 })
    expect(lastWindow(await client.stream('ended/a').window({ at: 'now' }))).toEqual(['committed', 3, 4])
    expect(server.served.requests.length).toBe(before)
  })

  test('a closed stream without entries has one window, from its creation to its creation; its history completes', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const created = clock.now()
    const { client } = connect(server.url)
    const stream = client.stream('ended/none')
    await stream.create()
    await stream.close()
    clock.advance(100)
    const window = await stream.window({ seq: 0 })
    expect([window.status, window.start, window.entries, window.end]).toEqual(['committed', { seq: 0, ts: created, state: {} }, [], { seq: 0, ts: created }])
    const bounded = (await collect(stream.history({ from: created - 10, to: clock.now() }))) as LiveState[]
    expect(bounded.map((state) => [state.seq, state.state])).toEqual([[0, {}]])
    // Held now: the same range, and the range on into the (ended) tail, ask for nothing more.
    const before = server.served.requests.length
    expect(((await collect(stream.history({ from: created - 10, to: clock.now() }))) as LiveState[]).map((state) => state.seq)).toEqual([0])
    expect(server.served.requests.length).toBe(before)
    expect(((await collect(client.stream('ended/none').history({ from: 0 }))) as LiveState[]).map((state) => state.seq)).toEqual([0])
    expect(await stream.stateAt(clock.now())).toEqual({})
  })

  test('a second history over a closed stream, up to any later time, is answered from held windows', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const stream = client.stream('ended/twice')
    await stream.create({ snapshot: { entries: 3 } })
    for (let i = 1; i <= 7; i++) {
      clock.advance(10)
      await stream.append(merge({ i }))
    }
    await stream.close()
    const range = { from: 0, to: clock.now() + 3_600_000 }
    const once = (await collect(stream.history(range))) as LiveState[]
    expect(once.map((state) => state.seq)).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(server.served.refetched('ended/twice')).toEqual([])
    const before = server.served.requests.length
    const again = (await collect(stream.history(range))) as LiveState[]
    expect(again.map((state) => [state.seq, state.state])).toEqual(once.map((state) => [state.seq, state.state]))
    expect(server.served.requests.slice(before)).toEqual([])
  })

  test('client.live() drops each stream as it closes and completes with the last', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    for (const name of ['multi/a', 'multi/b']) await client.stream(name).create()
    const live = client.live(['multi/a', 'multi/b'])
    const states = collect(live.states$)
    await first(live.states$, (state) => state.stream === 'multi/b')
    await client.stream('multi/a').append(merge({ a: 1 }))
    await client.stream('multi/a').close()
    await client.stream('multi/b').append(merge({ b: 1 }))
    await client.stream('multi/b').close()
    const seen = (await states).map((state) => [state.stream, state.seq])
    expect(seen).toEqual(expect.arrayContaining([['multi/a', 1], ['multi/b', 1]]))
    expect(liveRequests(server.served.requests)).toHaveLength(1)
  })
})

describe('a fork', () => {
  test('info() tells a deleted source that forks still read (STREAM_DELETED, 410) from a missing stream (STREAM_NOT_FOUND, 404)', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    await expect(client.stream('info/none').info()).rejects.toMatchObject({ code: 'STREAM_NOT_FOUND', status: 404 })
    const source = client.stream('info/src')
    await source.create()
    await source.append(merge({ a: 1 }))
    expect(await source.fork('info/fork', { seq: 1 })).toEqual({ created: true })
    await source.delete()
    await expect(source.info()).rejects.toMatchObject({ code: 'STREAM_DELETED', status: 410 })
    await expect(client.stream('info/src').stateAt(Date.now())).rejects.toMatchObject({ code: 'STREAM_DELETED', status: 410 })
    expect(await client.stream('info/fork').info()).toMatchObject({ kind: 'state', seq: 1, closed: false })
  })

  test('has its source’s history before the fork point, windows included, and its own after it, live', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const source = client.stream('src/a')
    await source.create({ snapshot: { entries: 3 } })
    const stamps: number[] = []
    for (let i = 1; i <= 8; i++) {
      clock.advance(10)
      await source.append(merge({ i }))
      stamps.push(clock.now())
    }
    const put = await fetch(`${server.url}/v1/stream/fork/a`, {
      method: 'PUT',
      headers: { 'stream-forked-from': '/v1/stream/src/a', 'stream-fork-at': String(stamps[4]) },
    })
    expect(put.status).toBe(201)
    const fork = client.stream('fork/a')
    const until = stamps[4] as number
    const sourceHistory = (await collect(source.history({ from: 0, to: until }))) as LiveState[]
    const forkHistory = (await collect(fork.history({ from: 0, to: until }))) as LiveState[]
    expect(forkHistory.map((state) => [state.seq, state.state])).toEqual(sourceHistory.map((state) => [state.seq, state.state]))
    const sourceWindow = await source.window({ seq: 2 })
    const forkWindow = await fork.window({ seq: 2 })
    expect([forkWindow.status, forkWindow.start, forkWindow.entries, forkWindow.end]).toEqual([
      sourceWindow.status,
      sourceWindow.start,
      sourceWindow.entries,
      sourceWindow.end,
    ])
    // Live: the fork's state at its fork point, then its own appends (not its source's).
    const states = collect(fork.live$)
    expect(await first(fork.live$)).toMatchObject({ seq: 5, state: { i: 5 } })
    clock.advance(10)
    await source.append(merge({ source: true }))
    await fork.append(merge({ fork: true }))
    await fork.close()
    const seen = (await states) as LiveState[]
    expect(seen.map((state) => [state.seq, state.state as Json])).toEqual([
      [5, { i: 5 }],
      [6, { i: 5, fork: true }],
    ])
  })
})
