/**
 * "Never refetch", counted on the server: every window answer's entries are tallied per seq, and
 * no seq may be sent twice — across repeated and overlapping requests, boundary timestamps,
 * ranges over held and missing windows, and a live window that rolls over.
 */
import type { Json } from '@statestream/common'
import { describe, expect } from 'vitest'
import { clientTest as test, merge, testClock } from './support/count-requests.ts'
import type { CountedServer } from './support/count-requests.ts'
import type { StateStreamClient } from '@statestream/client'
import { collect, first } from './support/observe.ts'

/** 40 entries, a snapshot every 5, 10 ms apart except runs of equal ms at some window edges. */
async function seed(client: StateStreamClient, clock: ReturnType<typeof testClock>, name: string): Promise<number[]> {
  const stream = client.stream(name)
  await stream.create({ snapshot: { entries: 5 } })
  const stamps: number[] = []
  for (let i = 1; i <= 40; i++) {
    if (i % 7 !== 0) clock.advance(10)
    await stream.append(merge({ i, [`k${i % 4}`]: i }))
    stamps.push(clock.now())
  }
  return stamps
}

async function serverState(server: CountedServer, name: string, at: number): Promise<Json> {
  const response = await fetch(`${server.url}/v1/state/${name}?at=${at}`)
  return ((await response.json()) as { state: Json }).state
}

describe('never refetch', () => {
  test('repeated and overlapping stateAt, at every boundary, fetch each window once', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const stamps = await seed(client, clock, 'wx/a')
    const stream = client.stream('wx/a')
    const created = stamps[0]! - 10
    // Every entry's ts, one ms either side, and before creation — twice over, in two orders.
    const points = [created - 1, created, ...stamps.flatMap((ts) => [ts - 1, ts, ts + 1])]
    for (const at of [...points, ...points.reverse()]) {
      expect(await stream.stateAt(at), `state at ${at}`).toEqual(at < created ? undefined : await serverState(server, 'wx/a', at))
    }
    expect(server.served.refetched('wx/a')).toEqual([])
    // 8 closed windows and the open one: one request each, plus one for "before creation". At
    // or past the head of an open window nobody tails, the client can only ask "anything new?"
    // (`after=` its last entry), which carries no entry.
    const windowRequests = server.served.requests.filter((line) => line.includes('/v1/window/'))
    const fetches = windowRequests.filter((line) => !line.includes('after='))
    expect(fetches.length).toBe(10)
    expect(new Set(windowRequests.filter((line) => line.includes('after=')))).toEqual(new Set(['GET /v1/window/wx/a?seq=40&after=40']))
    expect(server.served.sent('wx/a')).toBe(40)
    // Asking all over again for any point before the head sends nothing.
    const before = server.served.requests.length
    for (const at of points.filter((at) => at < stamps[39]!)) await stream.stateAt(at)
    expect(server.served.requests.length).toBe(before)
  })

  test('concurrent identical requests share one fetch', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const stamps = await seed(client, clock, 'wx/b')
    const stream = client.stream('wx/b')
    await Promise.all(Array.from({ length: 10 }, () => stream.stateAt(stamps[12]!)))
    expect(server.served.count('/v1/window/')).toBe(1)
  })

  test('history across held and missing windows fetches only the gaps', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url, { historyConcurrency: 3 })
    const stamps = await seed(client, clock, 'wx/c')
    const stream = client.stream('wx/c')
    // Hold two windows in the middle first.
    await stream.stateAt(stamps[11]!)
    await stream.stateAt(stamps[26]!)
    const steps = await collect(stream.history({ from: stamps[0]! - 100, to: stamps[39]! }))
    // The state at `from` (creation), then every entry exactly once, in order.
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 41 }, (_, i) => i))
    expect(steps[40]!.state).toEqual(await serverState(server, 'wx/c', stamps[39]!))
    expect(server.served.refetched('wx/c')).toEqual([])
    expect(server.served.sent('wx/c')).toBe(40)
    // A second history over a held stretch makes no request at all.
    const before = server.served.requests.length
    const again = await collect(stream.history({ from: stamps[3]!, to: stamps[30]! }))
    expect(again[0]!.state).toEqual(await serverState(server, 'wx/c', stamps[3]!))
    expect(server.served.requests.length).toBe(before + 1) // the serverState call above
  })

  test('windows a history read share their start states with the windows before them', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url, { historyConcurrency: 3 })
    const stream = client.stream<Record<string, Record<string, number>>>('wx/f')
    // Four groups; each entry changes one member of one group, a snapshot every 4 entries.
    await stream.create({ snapshot: { entries: 4 }, messages: [{ set: { g0: { n: 0 }, g1: { n: 0 }, g2: { n: 0 }, g3: { n: 0 } } }] })
    for (let i = 1; i <= 24; i++) {
      clock.advance(10)
      await stream.append(merge({ [`g${i % 4 === 0 ? 0 : i % 2 === 0 ? 2 : 1}`]: { n: i } }))
    }
    const steps = await collect(stream.history({ from: 0, to: clock.now() }))
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 26 }, (_, i) => i))
    expect(steps[25]!.state).toEqual(await serverState(server, 'wx/f', clock.now()))
    const views = (await first(stream.windows$)).filter((w) => w.status === 'committed')
    const requests = server.served.requests.length
    const held = await Promise.all(views.map((view) => stream.window({ seq: view.start!.seq })))
    expect(server.served.requests.length).toBe(requests)
    expect(held.length).toBeGreaterThanOrEqual(6)
    expect(held[0]!.start!.state).toEqual({})
    for (let i = 2; i < held.length; i++) {
      const before = held[i - 1]!.start!.state as Record<string, unknown>
      const after = held[i]!.start!.state as Record<string, unknown>
      // g3 is never changed after the first entry: every window's start from then on holds the very same object.
      expect(after.g3).toBe(before.g3)
      expect(after).toEqual(await serverState(server, 'wx/f', held[i]!.start!.ts))
    }
    expect(server.served.refetched('wx/f')).toEqual([])
  })

  test('window() answers a window by time or seq, held windows first', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const stamps = await seed(client, clock, 'wx/d')
    const stream = client.stream('wx/d')
    const bySeq = await stream.window({ seq: 12 })
    expect(bySeq).toMatchObject({ status: 'committed', start: { seq: 10 }, end: { seq: 15 } })
    expect(bySeq.entries.map((e) => e.seq)).toEqual([11, 12, 13, 14, 15])
    const byTime = await stream.window({ at: stamps[12]! })
    expect(byTime.start?.seq).toBe(10)
    expect(server.served.count('/v1/window/')).toBe(1)
    const held = await first(stream.windows$)
    expect(held.map((w) => [w.status, w.start?.seq, w.end?.seq])).toEqual([['committed', 10, 15]])
  })

  test('a live window rolling over is committed from held data and never fetched', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now, heartbeatMs: 200 })
    const { client } = connect(server.url)
    const stream = client.stream<{ i?: number }>('wx/e')
    await stream.create({ snapshot: { entries: 5 } })
    const seen: number[] = []
    const subscription = stream.live$.subscribe((s) => seen.push(s.seq))
    await first(stream.status$, (s) => s === 'live')
    for (let i = 1; i <= 12; i++) {
      clock.advance(10)
      await stream.append(merge({ i }))
    }
    await first(stream.live$, (s) => s.seq === 12)
    const held = await first(stream.windows$)
    expect(held.map((w) => [w.status, w.start?.seq, w.end?.seq ?? null])).toEqual([
      ['committed', 0, 5],
      ['committed', 5, 10],
      ['live', 10, null],
    ])
    // Every point of that history from held data: no window request at all.
    for (let at = clock.now() - 130; at <= clock.now(); at += 5) {
      expect((await stream.stateAt(at)) ?? null).toEqual(await serverState(server, 'wx/e', at))
    }
    expect(server.served.count('/v1/window/')).toBe(0)
    expect(seen).toEqual(Array.from({ length: 13 }, (_, i) => i))
    subscription.unsubscribe()
  })
})


describe('a history that reaches the open window', () => {
  test('held up to `to`: no request; reaching the head: one listing and only the entries after the held ones', async ({ serve, connect }) => {
    const clock = testClock()
    const server = await serve({ now: clock.now })
    const { client } = connect(server.url)
    const stream = client.stream('wx/open')
    await stream.create({ snapshot: { entries: 4 } })
    const stamps: number[] = []
    for (let i = 1; i <= 6; i++) {
      clock.advance(10)
      await stream.append(merge({ i }))
      stamps.push(clock.now())
    }
    // Windows [0, 4] (closed) and [4, …) (open: entries 5 and 6, nobody tails it).
    const seqs = async (range: { from: number; to: number }) => ((await collect(stream.history(range))) as Array<{ seq: number }>).map((s) => s.seq)
    expect(await seqs({ from: 0, to: clock.now() })).toEqual([0, 1, 2, 3, 4, 5, 6])
    const requests = (): string[] => server.served.requests.filter((line) => line.startsWith('GET '))
    let before = requests().length
    // `to` before the last held entry of the open window: held data answers, as it does within closed windows.
    expect(await seqs({ from: 0, to: stamps[4]! })).toEqual([0, 1, 2, 3, 4, 5])
    expect(await seqs({ from: stamps[0]!, to: stamps[2]! })).toEqual([1, 2, 3])
    expect(requests().slice(before)).toEqual([])
    // Up to the last held entry's ts or later: more entries may have come since (in that very
    // millisecond too), so the client asks what the server has added, and gets only that.
    clock.advance(10)
    await stream.append(merge({ i: 7 }))
    before = requests().length
    expect(await seqs({ from: 0, to: clock.now() })).toEqual([0, 1, 2, 3, 4, 5, 6, 7])
    expect(requests().slice(before)).toEqual([`GET /v1/windows/wx/open?from=0&to=${clock.now()}`, 'GET /v1/window/wx/open?seq=4&after=6'])
    expect(server.served.refetched('wx/open')).toEqual([])
  })
})
