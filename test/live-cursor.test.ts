/**
 * `live$`, the one shared live cursor, over real HTTP: one connection for many subscribers,
 * closed by refcount, resumed without refetch, surviving cuts and silent stalls with every seq
 * applied exactly once, and failing subscribers only when the stream is gone.
 */
import type { Json } from '@statestream/common'
import type { LiveState } from '@statestream/client'
import { describe, expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { CountedServer } from './support/count-requests.ts'
import { failure, first } from './support/observe.ts'

async function headState(server: CountedServer, name: string): Promise<{ seq: number; state: Json }> {
  const response = await fetch(`${server.url}/v1/state/${name}`)
  return (await response.json()) as { seq: number; state: Json }
}

/** Resolves once `check` holds, looking again on every turn of the event loop (no fixed sleeps). */
async function until(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Seqs must run without gap or repeat from the first one seen. */
function expectContiguous(seqs: number[]): void {
  const start = seqs[0] ?? 0
  expect(seqs).toEqual(Array.from({ length: seqs.length }, (_, i) => start + i))
}

describe('live$', () => {
  test('three subscribers share one connection; the last to leave closes it; a resubscribe resumes without refetch', async ({ serve, connect, proxy }) => {
    const server = await serve({ heartbeatMs: 200 })
    const net = await proxy(server.url)
    const { client } = connect(net.url)
    const writer = connect(server.url).client.stream('live/a')
    await writer.create({ snapshot: { entries: 4 } })
    await writer.append(merge({ n: 0 }))
    const stream = client.stream<{ n: number }>('live/a')

    const seen: number[][] = [[], [], []]
    const subscriptions = seen.map((list) => stream.live$.subscribe((s: LiveState<{ n: number }>) => list.push(s.seq)))
    await first(stream.status$, (s) => s === 'live')
    for (let n = 1; n <= 6; n++) await writer.append(merge({ n }))
    await first(stream.live$, (s) => s.seq === 7)
    expect(server.served.count('/v1/live/')).toBe(1)
    for (const list of seen) expect(list).toEqual([1, 2, 3, 4, 5, 6, 7])

    subscriptions.forEach((subscription) => subscription.unsubscribe())
    expect(await first(stream.status$)).toBe('closed')
    await until(() => net.open === 0, 'the live connection to close')

    for (let n = 8; n <= 10; n++) await writer.append(merge({ n }))
    const again: Array<LiveState<{ n: number }>> = []
    const subscription = stream.live$.subscribe((s) => again.push(s))
    await first(stream.live$, (s) => s.seq === 10)
    await writer.append(merge({ n: 11 }))
    await first(stream.live$, (s) => s.seq === 11)
    subscription.unsubscribe()
    // The server's current state first (the held window caught up: only its new entries were
    // fetched), then each change; nothing held was fetched again.
    expect(again.map((s) => s.seq)).toEqual([10, 11])
    expect(again[0]!.entry).toBeUndefined()
    expect(again[0]!.state).toEqual({ n: 10 })
    expect(again[1]!.state).toEqual((await headState(server, 'live/a')).state)
    // (Entry 8 closed the held window: the catch-up committed it, and the next open window came
    // on a fresh connection, with entries 9 and 10 only.)
    expect(server.served.requests.filter((line) => line.includes('/v1/live/') || line.includes('/v1/window/'))).toEqual([
      'GET /v1/live/live/a',
      'GET /v1/window/live/a?seq=4&after=7',
      'GET /v1/live/live/a',
    ])
    expect(server.served.refetched('live/a')).toEqual([])
  })

  test('live$ never opens with a stale state: a held window behind the head is caught up first', async ({ serve, connect }) => {
    const server = await serve({ heartbeatMs: 200 })
    const writer = connect(server.url).client.stream('live/behind')
    await writer.create()
    for (let n = 1; n <= 5; n++) await writer.append(merge({ n }))
    const { client } = connect(server.url)
    const stream = client.stream<{ n: number }>('live/behind')
    // The client holds the open window at seq 5, and the server moves on to seq 10.
    expect((await stream.window({ at: 'now' })).entries.at(-1)?.seq).toBe(5)
    for (let n = 6; n <= 10; n++) await writer.append(merge({ n }))
    const seen: Array<LiveState<{ n: number }>> = []
    const subscription = stream.live$.subscribe((s) => seen.push(s))
    await first(stream.live$, (s) => s.seq === 10)
    subscription.unsubscribe()
    // Its first value is the server's current state, not seq 5 followed by 6..10 as changes.
    expect(seen.map((s) => [s.seq, s.entry === undefined])).toEqual([[10, true]])
    expect(seen[0]!.state).toEqual({ n: 10 })
    expect(server.served.refetched('live/behind')).toEqual([])
    expect(server.served.requests.filter((line) => line.includes('/v1/live/') || line.includes('/v1/window/'))).toEqual([
      'GET /v1/window/live/behind?at=now',
      'GET /v1/window/live/behind?seq=0&after=5',
      expect.stringMatching(/^GET \/v1\/live\/live\/behind\?after=10&window=0\.\d+$/),
    ])
  })

  test('random connection cuts while tailing: every seq applied exactly once, final state equals the server’s', async ({ serve, connect, proxy }) => {
    const server = await serve({ heartbeatMs: 100 })
    const net = await proxy(server.url)
    const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 50 } })
    const writer = connect(server.url).client.stream('live/cuts')
    await writer.create({ snapshot: { entries: 16 } })
    const stream = client.stream('live/cuts')
    const seqs: number[] = []
    const statuses: string[] = []
    let failed: unknown
    stream.status$.subscribe((s) => statuses.push(s))
    const subscription = stream.live$.subscribe({ next: (s) => seqs.push(s.seq), error: (err) => (failed = err) })
    await first(stream.status$, (s) => s === 'live')
    // Cut about one server chunk in eight, from a seeded sequence so a failure can be replayed.
    let seed = 42
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    net.cutWhen(() => random() < 0.125)
    const total = 300
    for (let i = 1; i <= total; i++) {
      await writer.append(i % 5 === 0 ? { patch: [{ op: 'add', path: `/p${i % 7}`, value: i }] } : merge({ [`k${i % 11}`]: i, i }))
    }
    await first(stream.live$, (s) => s.seq === total)
    net.cutWhen(undefined)
    subscription.unsubscribe()
    expect(failed).toBeUndefined()
    expectContiguous(seqs)
    expect(seqs.at(-1)).toBe(total)
    expect((await first(stream.live$.pipe())).state).toEqual((await headState(server, 'live/cuts')).state)
    // Enough cuts happened to mean something, and each was followed by a resume, not a refetch.
    expect(net.cuts).toBeGreaterThan(3)
    expect(statuses.filter((s) => s === 'reconnecting').length).toBeGreaterThan(3)
    // No window answer carried an entry: the last subscribe only checked for new ones.
    expect(server.served.sent('live/cuts')).toBe(0)
    const lives = server.served.requests.filter((line) => line.includes('/v1/live/'))
    expect(lives.slice(1).every((line) => line.includes('?after='))).toBe(true)
    console.log(`live cuts: ${net.cuts} cuts, ${lives.length} connections, ${total} entries each applied once`)
  })

  test('a silent stall is caught by the watchdog; the cursor resumes with nothing lost', async ({ serve, connect, proxy }) => {
    const server = await serve({ heartbeatMs: 100 })
    const net = await proxy(server.url)
    const { client } = connect(net.url, { watchdogMs: 800, backoff: { initialMs: 5, maxMs: 50 } })
    const writer = connect(server.url).client.stream('live/stall')
    await writer.create()
    const stream = client.stream('live/stall')
    const seqs: number[] = []
    const subscription = stream.live$.subscribe((s) => seqs.push(s.seq))
    await first(stream.status$, (s) => s === 'live')
    net.stall()
    for (let i = 1; i <= 5; i++) await writer.append(merge({ i }))
    await first(stream.status$, (s) => s === 'reconnecting')
    net.resume()
    await first(stream.live$, (s) => s.seq === 5)
    subscription.unsubscribe()
    expectContiguous(seqs)
    expect(seqs.at(-1)).toBe(5)
  })

  test('deletion errors every subscriber; a later subscribe starts afresh', async ({ serve, connect }) => {
    const server = await serve({ heartbeatMs: 200 })
    const { client } = connect(server.url)
    const writer = connect(server.url).client.stream('live/gone')
    await writer.create()
    await writer.append(merge({ v: 1 }))
    const stream = client.stream('live/gone')
    const errors = [failure(stream.live$), failure(stream.live$)]
    await first(stream.status$, (s) => s === 'live')
    await writer.delete()
    for (const err of await Promise.all(errors)) expect((err as { code?: string }).code).toBe('STREAM_DELETED')
    expect(await first(stream.status$)).toBe('closed')

    await writer.create({ messages: [{ set: { v: 'new' } }] })
    const fresh = await first(stream.live$)
    expect(fresh).toMatchObject({ seq: 1, state: { v: 'new' } })
  })

  test('subscribing to a stream that does not exist fails at once with STREAM_NOT_FOUND', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    const err = await failure(client.stream('live/none').live$)
    expect((err as { code?: string }).code).toBe('STREAM_NOT_FOUND')
  })
})
