/**
 * Many sources: `client.live([...])` on one multiplexed connection with the gpos clock, resumed by
 * Last-Event-ID across a cut, never re-sent what the client's stores hold; `client.statesAt`
 * lining streams up at one time.
 */
import type { MultiLiveState } from '@statestream/client'
import { expect } from 'vitest'
import { clientTest as test, merge, testClock } from './support/count-requests.ts'
import { first } from './support/observe.ts'
import { SseReader } from './support/sse.ts'
import type { CutRule, TcpProxy } from './support/tcp-proxy.ts'

/**
 * From now on, what the server sends through `net` on multiplexed events (those whose data names
 * its stream): per event, its stream and the entry seqs it carries (a window's entries, or one).
 * `cut` may cut a connection instead of forwarding a chunk (not counted as sent).
 */
function tapMultiplexed(net: TcpProxy, cut: CutRule = () => false): () => Array<{ event: string; stream: string; seqs: number[] }> {
  const bytes = new Map<number, string>()
  net.cutWhen((info) => {
    if (cut(info)) return true
    bytes.set(info.connection, (bytes.get(info.connection) ?? '') + info.chunk.toString('latin1'))
    return false
  })
  return () => {
    const events: Array<{ event: string; stream: string; seqs: number[] }> = []
    for (const text of bytes.values()) {
      // HTTP chunk framing only ever sits between whole events: each event starts a line.
      for (const match of text.matchAll(/^event: (\w+)\n(?:id: [^\n]*\n)?data: ([^\n]*)\n/gm)) {
        const data = JSON.parse(match[2] as string) as { stream?: string; seq?: number; entries?: Array<{ seq: number }> }
        if (data.stream === undefined) continue
        const seqs = match[1] === 'window' ? (data.entries ?? []).map((entry) => entry.seq) : match[1] === 'entry' ? [data.seq as number] : []
        events.push({ event: match[1] as string, stream: data.stream, seqs })
      }
    }
    return events
  }
}

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

test('live([a, b]) with a\'s open window held: a is asked for as a@<seq>, no entry it held is sent, through cuts', async ({ serve, connect, proxy }) => {
  const server = await serve({ heartbeatMs: 100, clockMs: 100 })
  const net = await proxy(server.url)
  const writer = connect(server.url).client
  for (const name of ['h/a', 'h/b']) await writer.stream(name).create({ messages: [{ set: { name } }] })
  for (let n = 1; n <= 5; n++) await writer.stream('h/a').append(merge({ n }))
  const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } })
  // The client tails h/a up to seq 6 and stops: its store holds h/a's open window. Two more
  // entries come while nobody tails.
  const a = client.stream('h/a')
  await first(a.live$, (s) => s.seq === 6)
  for (let n = 6; n <= 7; n++) await writer.stream('h/a').append(merge({ n }))

  // The first connection dies before anything arrives: it starts over from the held data again.
  // (Its answer is cut, not the bounds-only check of h/a's held window that comes before it.)
  let cutLive = true
  const sent = tapMultiplexed(net, ({ chunk }) => {
    if (!cutLive || !chunk.toString('latin1').includes('text/event-stream')) return false
    cutLive = false
    return true
  })
  type S = { name: string; n?: number }
  const live = client.live<S>(['h/a', 'h/b'])
  const seen: Array<MultiLiveState<S>> = []
  const subscription = live.states$.subscribe((s) => seen.push(s))
  await first(live.states$, (s) => s.stream === 'h/a' && s.seq === 8)
  await first(live.clock$)
  for (let n = 8; n <= 13; n++) {
    await writer.stream(n % 2 === 0 ? 'h/a' : 'h/b').append(merge({ n }))
    if (n === 10) net.cut()
  }
  await first(live.states$, (s) => s.stream === 'h/a' && s.seq === 11)
  await first(live.states$, (s) => s.stream === 'h/b' && s.seq === 4)

  const lives = server.served.requests.filter((line) => line.startsWith('GET /v1/live?'))
  // Opened (twice: the first was cut) naming what a holds; after the cut, resumed by gpos. Each
  // names the start of every open window it holds, for the server to check.
  expect(lives.slice(0, 2).map(withoutWindows)).toEqual(['GET /v1/live?stream=h/a@6&stream=h/b', 'GET /v1/live?stream=h/a@6&stream=h/b'])
  for (const line of lives.slice(0, 2)) expect(line).toMatch(/&window=h\/a@0\.\d+$/)
  const byGpos = lives.slice(2).filter((line) => withoutWindows(line) === 'GET /v1/live?stream=h/a&stream=h/b')
  expect(byGpos.length).toBeGreaterThan(0)
  for (const line of byGpos) expect(line).toMatch(/&window=h\/a@0\.\d+&window=h\/b@0\.\d+$/)
  // What the server sent of h/a: no window, and none of the entries the client held.
  const ofA = sent().filter((event) => event.stream === 'h/a')
  expect(ofA.filter((event) => event.event === 'window')).toEqual([])
  expect(ofA.flatMap((event) => event.seqs).filter((seq) => seq <= 6)).toEqual([])
  expect(ofA.flatMap((event) => event.seqs)).toEqual(expect.arrayContaining([7, 8, 9, 10, 11]))
  expect(sent().filter((event) => event.event === 'window').map((event) => event.stream)).toEqual(['h/b'])
  expect(server.served.count('/v1/window/')).toBe(0)

  // Each stream's current state first, then every entry once, gpos never decreasing.
  const of = (name: string): Array<[number, boolean]> => seen.filter((s) => s.stream === name).map((s) => [s.seq, s.entry !== undefined])
  expect(of('h/a')).toEqual([[6, false], [7, true], [8, true], [9, true], [10, true], [11, true]])
  expect(of('h/b')).toEqual([[1, false], [2, true], [3, true], [4, true]])
  expect(seen.map((s) => s.gpos)).toEqual([...seen.map((s) => s.gpos)].sort((x, y) => x - y))
  expect(seen.filter((s) => s.entry !== undefined).map((s) => s.state.n)).toEqual([6, 7, 8, 9, 10, 11, 12, 13])
  // The entries landed in the held windows: while tailed, the present costs no request.
  const now = Number.MAX_SAFE_INTEGER - 1
  const expected = [await writer.stream('h/a').stateAt(now), await writer.stream('h/b').stateAt(now)]
  const before = server.served.requests.length
  expect([await client.stream('h/a').stateAt(now), await client.stream('h/b').stateAt(now)]).toEqual(expected)
  expect(expected[0]).toEqual({ name: 'h/a', n: 12 })
  expect(server.served.requests.length).toBe(before)
  subscription.unsubscribe()
})

test('a connection cut inside its initial data starts over from each stream\'s own head, not by gpos', async ({ serve, connect, proxy }) => {
  const server = await serve({ heartbeatMs: 100, clockMs: 100 })
  const net = await proxy(server.url)
  const writer = connect(server.url).client
  for (const name of ['c/a', 'c/b']) await writer.stream(name).create({ messages: [{ set: { name } }] })
  const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } })
  await first(client.stream('c/a').live$, (s) => s.seq === 1)
  // c/a falls 600 entries behind what the client holds: a catch-up of well over 100 kB.
  const pad = 'x'.repeat(200)
  await writer.stream('c/a').append(Array.from({ length: 600 }, (_, i) => merge({ i, pad })))
  // Cut the connection once, after some of c/a's catch-up and before c/b's window.
  let cut = false
  net.cutWhen(({ bytesFromServer }) => {
    if (cut || bytesFromServer < 32_768) return false
    cut = true
    return true
  })
  type S = { name: string; i?: number }
  const live = client.live<S>(['c/a', 'c/b'])
  const seen: Array<MultiLiveState<S>> = []
  const subscription = live.states$.subscribe((s) => seen.push(s))
  await first(live.states$, (s) => s.stream === 'c/b')
  await first(live.states$, (s) => s.stream === 'c/a' && s.seq === 601)
  await first(live.clock$)
  subscription.unsubscribe()
  expect(cut).toBe(true)
  const lives = server.served.requests.filter((line) => line.startsWith('GET /v1/live?'))
  expect(lives[0]).toMatch(/^GET \/v1\/live\?stream=c\/a@1&stream=c\/b&window=c\/a@0\.\d+$/)
  // Whatever of c/a arrived before the cut is not asked for again; c/b still needs its window.
  const resumedAt = Number(/^GET \/v1\/live\?stream=c\/a@(\d+)&stream=c\/b&window=c\/a@\d+\.\d+$/.exec(lives[1] ?? '')?.[1])
  expect(resumedAt).toBeGreaterThan(1)
  const ofA = seen.filter((s) => s.stream === 'c/a').map((s) => s.seq)
  expect(ofA).toEqual(Array.from({ length: 601 }, (_, i) => i + 1))
  expect(seen.filter((s) => s.stream === 'c/b').map((s) => s.seq)).toEqual([1])
  expect(seen.at(-1)?.state).toEqual({ name: 'c/b' })
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
  // The same shape as `stateAt`: the state itself, `undefined` where a stream did not exist yet.
  expect(await client.statesAt(['g/a', 'g/b'], at)).toEqual({ 'g/a': { a: 3 }, 'g/b': undefined })
  expect(await client.stream('g/a').stateAt(at)).toEqual({ a: 3 })
  expect(await client.snapshotsAt(['g/a', 'g/b'], at)).toEqual({
    'g/a': { seq: 3, ts: created + 30, state: { a: 3 } },
    'g/b': undefined,
  })
  const before = server.served.requests.length
  await client.statesAt(['g/a', 'g/b'], at)
  expect(server.served.requests.slice(before)).toEqual([])
})

test('statesAt: a missing stream is undefined, a bad name refuses the call before any request, and nothing is left unhandled', async ({
  serve,
  connect,
}) => {
  const server = await serve()
  const { client } = connect(server.url)
  await client.stream('g/here').create({ messages: [{ set: { here: true } }] })
  const unhandled: unknown[] = []
  const onUnhandled = (reason: unknown): void => void unhandled.push(reason)
  process.on('unhandledRejection', onUnhandled)
  try {
    const now = Number.MAX_SAFE_INTEGER - 1
    expect(await client.statesAt(['g/here', 'g/missing'], now)).toEqual({ 'g/here': { here: true }, 'g/missing': undefined })
    const before = server.served.requests.length
    await expect(client.statesAt(['g/missing-2', 'bad//name'], now)).rejects.toMatchObject({ code: 'INVALID_STREAM_NAME' })
    expect(server.served.requests.length).toBe(before)
    // Any other failure rejects the call, and the requests still in flight settle quietly.
    await fetch(`${server.url}/v1/stream/g/plain`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })
    await expect(client.statesAt(['g/plain', 'g/missing-3', 'g/here'], now)).rejects.toMatchObject({ code: 'NOT_A_STATE_STREAM' })
    // Give any stray rejection the turns it needs to be reported.
    await new Promise((resolve) => setImmediate(resolve))
    await new Promise((resolve) => setImmediate(resolve))
    expect(unhandled).toEqual([])
  } finally {
    process.off('unhandledRejection', onUnhandled)
  }
})

test('a new subscriber of states$ gets each stream\'s current state once, then only what is new', async ({ serve, connect }) => {
  const server = await serve({ heartbeatMs: 100, clockMs: 100 })
  const writer = connect(server.url).client.stream('m/late')
  await writer.create({ messages: [{ set: { n: 1 } }] })
  const { client } = connect(server.url)
  const live = client.live<{ n: number }>(['m/late'])
  const early: number[] = []
  const subscription = live.states$.subscribe((s) => early.push(s.seq))
  await first(live.clock$)
  for (let n = 2; n <= 3; n++) await writer.append(merge({ n }))
  await first(live.states$, (s) => s.seq === 3)
  // The head is seq 3: a late subscriber starts there, once, and sees seq 4 as a change.
  const late: Array<[number, boolean]> = []
  const second = live.states$.subscribe((s) => late.push([s.seq, s.entry !== undefined]))
  await writer.append(merge({ n: 4 }))
  await first(live.states$, (s) => s.seq === 4)
  second.unsubscribe()
  subscription.unsubscribe()
  expect(early).toEqual([1, 2, 3, 4])
  expect(late).toEqual([[3, false], [4, true]])
})

test('snapshotsAtGpos lines several streams up at one global position, as a live reader there saw them', async ({ serve, connect }) => {
  const server = await serve()
  const { client } = connect(server.url)
  const a = client.stream('g/a')
  const b = client.stream('g/b')
  await a.create()
  await b.create()
  // The server's position now, as a multiplexed reader learns it (the clock ending its initial data).
  const reader = await SseReader.open(`${server.url}/v1/live?stream=g/a&stream=g/b`)
  const start = JSON.parse((await reader.waitFor((event) => event.event === 'clock')).data).gpos as number
  reader.close()
  await a.append(merge({ a: 1 })) // start + 1
  await b.append(merge({ b: 1 })) // start + 2
  await a.append(merge({ a: 2 })) // start + 3
  const at = (gpos: number) => client.snapshotsAtGpos(['g/a', 'g/b', 'g/none'], gpos)
  expect(await at(start)).toEqual({ 'g/a': expect.objectContaining({ seq: 0, state: {} }), 'g/b': expect.objectContaining({ seq: 0, state: {} }), 'g/none': undefined })
  expect(await at(start + 2)).toEqual({
    'g/a': expect.objectContaining({ seq: 1, state: { a: 1 } }),
    'g/b': expect.objectContaining({ seq: 1, state: { b: 1 } }),
    'g/none': undefined,
  })
  expect(await at(start + 3)).toMatchObject({ 'g/a': { seq: 2, state: { a: 2 } }, 'g/b': { seq: 1 } })
  await expect(client.snapshotsAtGpos(['g/a'], -1)).rejects.toMatchObject({ code: 'INVALID_PARAMETER' })
  await expect(client.snapshotsAtGpos(['bad//name'], 0)).rejects.toMatchObject({ code: 'INVALID_STREAM_NAME' })
})

/** A live request's line without the held windows it names (`&window=…`). */
function withoutWindows(line: string): string {
  return line.replace(/&window=[^&]*/g, '')
}
