/**
 * A stream deleted and created again under the same name by someone else is another history: a
 * client holding windows of the first must never join them to the second (a state the server never
 * had), nor get stuck on them. Whatever it finds that the held data does not match (a window's
 * start that differs, a creation time that differs, a resume the server refuses), it forgets what
 * it held of the stream and asks again.
 */
import type { FetchLike, LiveState, StateStream, StateStreamClient } from '@statestream/client'
import { describe, expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { ClientFixtures } from './support/count-requests.ts'
import { failure, first } from './support/observe.ts'

type Connect = (url: string) => { client: StateStreamClient }
type LiveContext = Pick<ClientFixtures, 'serve' | 'connect' | 'proxy'>

/** A reader holding `name`'s first history (3 entries, a snapshot every `snapshotEntries`: its head state read), and a writer. */
async function holding(url: string, connect: Connect, name: string, snapshotEntries: number): Promise<{ reader: StateStream; writer: StateStream }> {
  const reader = connect(url).client.stream(name)
  const writer = connect(url).client.stream(name)
  await writer.create({ snapshot: { entries: snapshotEntries } })
  for (let i = 1; i <= 3; i++) await writer.append(merge({ old: i }))
  expect(await reader.stateAt(Date.now() + 60_000)).toEqual({ old: 3 })
  return { reader, writer }
}

/** Deletes the stream and creates it again with `fresh` entries `{ neu: i }`. */
/**
 * What a tail over a stream deleted and created again (with `fresh` entries, then one more) emitted:
 * the first history's head, then the second's head as the new current state, then its change —
 * never a state made of both — and it ends at the server's head.
 */
async function expectNewHistoryAlone(
  url: string,
  name: string,
  fresh: number,
  values: Array<[number, unknown]>,
  last: { seq: number; state: unknown },
): Promise<void> {
  expect(values).toEqual([
    [3, { old: 3 }],
    [fresh, { neu: fresh }],
    [fresh + 1, { neu: fresh + 1 }],
  ])
  const head = (await (await fetch(`${url}/v1/state/${name}`)).json()) as { seq: number; state: unknown }
  expect([last.seq, last.state]).toEqual([head.seq, head.state])
}

async function recreate(writer: StateStream, snapshotEntries: number, fresh: number): Promise<void> {
  await writer.delete()
  await writer.create({ snapshot: { entries: snapshotEntries } })
  for (let i = 1; i <= fresh; i++) await writer.append(merge({ neu: i }))
}

describe('a stream deleted and created again by another client', () => {
  test('with more entries than were held: the state and the first live value are the new stream’s alone', async ({ serve, connect }) => {
    const server = await serve()
    const { reader, writer } = await holding(server.url, connect, 'again/long', 100)
    await recreate(writer, 100, 5)

    expect(await reader.stateAt(Date.now() + 60_000)).toEqual({ neu: 5 })
    const value = (await first(reader.live$)) as LiveState
    expect([value.seq, value.state]).toEqual([5, { neu: 5 }])
    const windows = await first(reader.windows$)
    expect(windows.map((window) => [window.start?.seq, window.entries])).toEqual([[0, 5]])
  })

  test('with fewer entries than were held: calls and live$ are answered, not refused', async ({ serve, connect }) => {
    const server = await serve()
    const { reader, writer } = await holding(server.url, connect, 'again/short', 100)
    await recreate(writer, 100, 1)

    expect(await reader.stateAt(Date.now() + 60_000)).toEqual({ neu: 1 })
    const value = (await first(reader.live$)) as LiveState
    expect([value.seq, value.state]).toEqual([1, { neu: 1 }])
  })

  test('a closed window held of the first history is not joined to the second', async ({ serve, connect }) => {
    const server = await serve()
    const { reader, writer } = await holding(server.url, connect, 'again/closed', 2)
    // The reader holds the first history's closed window (entries 1–2) and its open one.
    const early = await reader.window({ seq: 1 })
    expect([early.status, early.end?.seq]).toEqual(['committed', 2])
    await recreate(writer, 2, 5)

    expect(await reader.stateAt(Date.now() + 60_000)).toEqual({ neu: 5 })
    const windows = await first(reader.windows$)
    // Nothing of the first history is left: every window held is the second's.
    for (const window of windows) {
      const held = await writer.window({ seq: window.start?.seq as number })
      expect(window.start).toEqual({ seq: held.start?.seq, ts: held.start?.ts })
    }
    expect(await reader.stateAt(Date.now() + 60_000)).toEqual({ neu: 5 })
  })
})

/** How many entries the stream made again has: more, fewer or as many as the reader held (3). */
const FRESH = [
  ['more entries than were held', 5],
  ['fewer entries than were held', 1],
  ['as many entries as were held', 3],
] as const

/**
 * A live cursor on `name` holds its first history (3 entries) when its connection goes down.
 * The stream is deleted and made again with `fresh` entries: while the connection is down, or
 * (`racing`) just before the server takes the request that resumes it, after every check the
 * client could make first. The cursor must emit the new stream's states alone, and the last
 * live request is a fresh one.
 */
async function liveAcrossRecreation({ serve, connect, proxy }: LiveContext, name: string, fresh: number, racing: boolean): Promise<void> {
  const server = await serve({ heartbeatMs: 200 })
  const net = await proxy(server.url)
  const writer = connect(server.url).client.stream(name)
  let armed = false
  // The resuming request itself waits until the stream is another one.
  const raced: FetchLike = async (input, init) => {
    if (armed && input.includes('/v1/live/') && input.includes('after=')) {
      armed = false
      await recreate(writer, 100, fresh)
    }
    return fetch(input, init)
  }
  const reader = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 }, ...(racing && { fetch: raced }) }).client.stream(name)
  await writer.create({ snapshot: { entries: 100 } })
  for (let i = 1; i <= 3; i++) await writer.append(merge({ old: i }))

  const values: Array<[number, unknown]> = []
  let failed: unknown
  const subscription = reader.live$.subscribe({ next: (value) => values.push([value.seq, value.state]), error: (err) => (failed = err) })
  await first(reader.live$, (value) => value.seq === 3)
  // The connection goes down, and stays down (every answer is cut) until the stream is another one.
  net.cutWhen(() => true)
  net.cut()
  await first(reader.status$, (status) => status === 'reconnecting')
  if (racing) armed = true
  else await recreate(writer, 100, fresh)
  const requestsBefore = server.served.requests.length
  net.cutWhen(undefined)

  await first(reader.live$, (value) => value.seq === fresh && (value.state as { neu?: number }).neu === fresh)
  await writer.append(merge({ neu: fresh + 1 }))
  const last = await first(reader.live$, (value) => value.seq === fresh + 1)
  subscription.unsubscribe()

  expect(failed).toBeUndefined()
  expect(armed).toBe(false)
  await expectNewHistoryAlone(server.url, name, fresh, values, last)
  // The resume the server refused (the held window is not the new stream's), then a fresh start.
  const lives = server.served.requests.slice(requestsBefore).filter((line) => line.includes('/v1/live/'))
  expect(lives.at(-2)).toMatch(new RegExp(`^GET /v1/live/${name}\\?after=3&window=0\\.\\d+$`))
  expect(lives.at(-1)).toBe(`GET /v1/live/${name}`)
}

describe('a live cursor whose connection was down while the stream was deleted and created again', () => {
  test.for(FRESH)('with %s: on reconnecting it emits the new stream’s states alone', async ([, fresh], { serve, connect, proxy }) => {
    await liveAcrossRecreation({ serve, connect, proxy }, `again/live-${fresh}`, fresh, false)
  })

  test.for(FRESH)('with %s, made again just before the resume reaches the server: the same', async ([, fresh], { serve, connect, proxy }) => {
    await liveAcrossRecreation({ serve, connect, proxy }, `again/race-${fresh}`, fresh, true)
  })
})

/**
 * The same for a multiplexed connection of `name` and another stream: it holds both (the first
 * history of `name`, 3 entries) and would resume by gpos when it goes down. `name` is deleted and
 * made again while it is down, or (`racing`) just before the server takes the request that
 * resumes it.
 */
async function multiAcrossRecreation({ serve, connect, proxy }: LiveContext, name: string, fresh: number, racing: boolean): Promise<void> {
  const server = await serve({ heartbeatMs: 100, clockMs: 100 })
  const net = await proxy(server.url)
  const other = `${name}-other`
  const writer = connect(server.url).client.stream(name)
  let armed = false
  const raced: FetchLike = async (input, init) => {
    if (armed && input.includes('/v1/live?')) {
      armed = false
      await recreate(writer, 100, fresh)
    }
    return fetch(input, init)
  }
  const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 }, ...(racing && { fetch: raced }) })
  await connect(server.url).client.stream(other).create({ messages: [{ set: { other: true } }] })
  await writer.create({ snapshot: { entries: 100 } })
  for (let i = 1; i <= 3; i++) await writer.append(merge({ old: i }))

  const live = client.live([name, other])
  const values: Array<[number, unknown]> = []
  let failed: unknown
  const subscription = live.states$.subscribe({
    next: (value) => {
      if (value.stream === name) values.push([value.seq, value.state])
    },
    error: (err) => (failed = err),
  })
  await first(live.states$, (value) => value.stream === name && value.seq === 3)
  await first(live.status$, (status) => status === 'live')
  // Its initial data complete, the connection would resume by gpos; it goes down and stays down.
  await first(live.clock$)
  net.cutWhen(() => true)
  net.cut()
  await first(live.status$, (status) => status === 'reconnecting')
  if (racing) armed = true
  else await recreate(writer, 100, fresh)
  net.cutWhen(undefined)

  await first(live.states$, (value) => value.stream === name && value.seq === fresh && (value.state as { neu?: number }).neu === fresh)
  await writer.append(merge({ neu: fresh + 1 }))
  const last = await first(live.states$, (value) => value.stream === name && value.seq === fresh + 1)
  subscription.unsubscribe()

  expect(failed).toBeUndefined()
  expect(armed).toBe(false)
  await expectNewHistoryAlone(server.url, name, fresh, values, last)
}

describe('a multiplexed live connection that was down while one of its streams was deleted and created again', () => {
  test.for(FRESH)('with %s: on reconnecting it emits that stream’s new states alone', async ([, fresh], { serve, connect, proxy }) => {
    await multiAcrossRecreation({ serve, connect, proxy }, `again/multi-${fresh}`, fresh, false)
  })

  test.for(FRESH)('with %s, made again just before the resume reaches the server: the same', async ([, fresh], { serve, connect, proxy }) => {
    await multiAcrossRecreation({ serve, connect, proxy }, `again/multi-race-${fresh}`, fresh, true)
  })
})

describe('a live cursor whose stream was deleted while down, and is kept for a fork that reads through it', () => {
  // The name answers 410 to everything: the refused resume is followed by one fresh try, which ends it.
  test('live$ ends with STREAM_DELETED after one fresh try', async ({ serve, connect, proxy }) => {
    const server = await serve({ heartbeatMs: 200 })
    const net = await proxy(server.url)
    const name = 'again/forked'
    const reader = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } }).client.stream(name)
    const writer = connect(server.url).client.stream(name)
    await writer.create({ snapshot: { entries: 100 } })
    for (let i = 1; i <= 3; i++) await writer.append(merge({ old: i }))
    await writer.fork(`${name}-fork`, { seq: 2 })
    const ended = failure(reader.live$)
    await first(reader.live$, (value) => value.seq === 3)
    net.cutWhen(() => true)
    net.cut()
    await first(reader.status$, (status) => status === 'reconnecting')
    await writer.delete()
    const requestsBefore = server.served.requests.length
    net.cutWhen(undefined)

    expect(await ended).toMatchObject({ code: 'STREAM_DELETED', status: 410 })
    const lives = server.served.requests.slice(requestsBefore).filter((line) => line.includes('/v1/live/'))
    expect(lives).toEqual([expect.stringMatching(new RegExp(`^GET /v1/live/${name}\\?after=3&window=0\\.\\d+$`)), `GET /v1/live/${name}`])
  })

  test('client.live ends with STREAM_DELETED after one check of what it held', async ({ serve, connect, proxy }) => {
    const server = await serve({ heartbeatMs: 100, clockMs: 100 })
    const net = await proxy(server.url)
    const name = 'again/forked-multi'
    const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } })
    const writer = connect(server.url).client.stream(name)
    await writer.create({ snapshot: { entries: 100 } })
    for (let i = 1; i <= 3; i++) await writer.append(merge({ old: i }))
    await writer.fork(`${name}-fork`, { seq: 2 })
    const live = client.live([name])
    const ended = failure(live.states$)
    await first(live.states$, (value) => value.seq === 3)
    await first(live.clock$)
    net.cutWhen(() => true)
    net.cut()
    await first(live.status$, (status) => status === 'reconnecting')
    await writer.delete()
    const requestsBefore = server.served.requests.length
    net.cutWhen(undefined)

    expect(await ended).toMatchObject({ code: 'STREAM_DELETED', status: 410 })
    // The refused resume, then the listing that checks what was held: refused too, which ends it.
    const after = server.served.requests.slice(requestsBefore).filter((line) => line.includes('/v1/live') || line.includes('/v1/windows/'))
    expect(after.map((line) => line.replace(/\?.*$/, ''))).toEqual(['GET /v1/live', `GET /v1/windows/${name}`])
  })
})
