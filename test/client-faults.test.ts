/**
 * Writes and window pulls through a faulty network: a retried append whose answer was lost is
 * stored once; history pulled through random cuts still applies every seq exactly once.
 */
import type { Json } from '@statestream/common'
import { describe, expect, vi } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { CountedServer } from './support/count-requests.ts'
import { collect } from './support/observe.ts'

async function head(server: CountedServer, name: string): Promise<{ seq: number; ts: number; state: Json }> {
  const response = await fetch(`${server.url}/v1/state/${name}`)
  return (await response.json()) as { seq: number; ts: number; state: Json }
}

describe('append', () => {
  test('a retried append whose response was lost stores one entry', async ({ serve, connect, proxy }) => {
    const server = await serve()
    const net = await proxy(server.url)
    const { client } = connect(net.url, { backoff: { initialMs: 5, maxMs: 20 } })
    const stream = client.stream('faults/append')
    await stream.create()
    net.cutNextResponse()
    const result = await stream.append(merge({ once: true }))
    expect(result).toEqual({ seq: 1, duplicate: true })
    expect(net.cuts).toBe(1)
    expect(server.served.requests.filter((line) => line.startsWith('POST'))).toHaveLength(2)
    expect(await head(server, 'faults/append')).toMatchObject({ seq: 1, state: { once: true } })
  })

  test('many appends through random response cuts: each stored exactly once, in order', async ({ serve, connect, proxy }) => {
    const server = await serve()
    const net = await proxy(server.url)
    const { client } = connect(net.url, { backoff: { initialMs: 2, maxMs: 20 }, appendAttempts: 20 })
    const stream = client.stream('faults/many')
    await stream.create({ messages: [{ set: { list: [] } }] })
    let seed = 7
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    net.cutWhen(() => random() < 0.3)
    // Sent all at once: the producer keeps them in order, one request at a time.
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => stream.append({ patch: [{ op: 'add', path: '/list/-', value: i }] })),
    )
    net.cutWhen(undefined)
    const state = await head(server, 'faults/many')
    expect(state.seq).toBe(61)
    expect(state.state).toEqual({ list: Array.from({ length: 60 }, (_, i) => i) })
    const duplicates = results.filter((r) => r.duplicate).length
    expect(net.cuts).toBeGreaterThan(5)
    console.log(`append cuts: ${net.cuts} responses lost, ${duplicates} retries answered as duplicates, 60 entries stored once`)
  })

  test('a refused mutation stores nothing and does not block the next append', async ({ serve, connect }) => {
    const server = await serve()
    const { client } = connect(server.url)
    const stream = client.stream('faults/refused')
    await stream.create()
    await expect(stream.append({ patch: [{ op: 'remove', path: '/missing' }] })).rejects.toMatchObject({ code: 'MUTATION_FAILED' })
    expect(await stream.append(merge({ ok: 1 }))).toEqual({ seq: 1, duplicate: false })
    expect(await stream.set({ ok: 2 })).toMatchObject({ stored: true, seq: 2 })
    expect(await stream.set({ ok: 2 })).toMatchObject({ stored: false, seq: 2 })
  })
})

describe('window pulls through cuts', () => {
  test('history through random cuts: every seq once, states equal to the server’s', async ({ serve, connect, proxy }) => {
    const server = await serve()
    const net = await proxy(server.url)
    const writer = connect(server.url).client.stream('faults/pull')
    await writer.create({ snapshot: { entries: 10 } })
    for (let i = 1; i <= 200; i++) await writer.append(merge({ i, [`k${i % 9}`]: i }))
    const { client } = connect(net.url, { backoff: { initialMs: 2, maxMs: 20 }, fetchAttempts: 30, historyConcurrency: 4 })
    const stream = client.stream('faults/pull')
    let seed = 3
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    net.cutWhen(() => random() < 0.3)
    const steps = await collect(stream.history({ from: 0, to: Number.MAX_SAFE_INTEGER }))
    net.cutWhen(undefined)
    expect(steps.map((s) => s.seq)).toEqual(Array.from({ length: 201 }, (_, i) => i))
    expect(steps.at(-1)!.state).toEqual((await head(server, 'faults/pull')).state)
    // A cut answer never reached the client, so the retry is the first delivery, not a refetch.
    const delivered = server.served.sent('faults/pull') - 200
    expect(net.cuts).toBeGreaterThan(2)
    // Going over it all again costs nothing.
    const before = server.served.requests.length
    await collect(stream.history({ from: 0, to: steps.at(-1)!.ts - 1 }))
    expect(server.served.requests.length).toBe(before)
    console.log(`pull cuts: ${net.cuts} cuts; ${delivered} entries re-sent by the server after cut answers; 0 entries applied twice`)
  })
})

describe('a window cut halfway', () => {
  test('resumes after its last whole entry: nothing it delivered is fetched again', async ({ serve, connect, proxy }) => {
    const server = await serve()
    const net = await proxy(server.url)
    const writer = connect(server.url).client.stream('faults/half')
    await writer.create({ snapshot: { entries: 200 } })
    await writer.append(Array.from({ length: 200 }, (_, i) => merge({ i, pad: 'x'.repeat(420) })))
    const full = await (await fetch(`${server.url}/v1/window/faults/half?seq=0`)).text()
    // The connection carrying the answer is cut once half the body has reached the client.
    const cutAt = Math.floor(full.length / 2)
    net.truncateNextResponse(300 + cutAt)
    const { client, events } = connect(net.url, { backoff: { initialMs: 5, maxMs: 20 } })
    const window = await client.stream('faults/half').window({ seq: 0 })
    expect(window.entries.map((e) => e.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1))
    expect(net.cuts).toBe(1)
    const requests = server.served.requests.filter((line) => line.startsWith('GET /v1/window/faults/half'))
    // The test's own read first, then the client's: the cut one, and its resume.
    expect(requests).toHaveLength(3)
    const resumed = /after=(\d+)$/.exec(requests.at(-1) ?? '')
    expect(resumed).not.toBeNull()
    const after = Number(resumed?.[1])
    expect(after).toBeGreaterThan(0)
    // What the client received, by entry: each once.
    const received = new Map<number, number>()
    for (const event of events) {
      if (event.type !== 'entries' || event.stream !== 'faults/half') continue
      for (let seq = event.first; seq <= event.last; seq++) received.set(seq, (received.get(seq) ?? 0) + 1)
    }
    expect([...received.values()].every((times) => times === 1)).toBe(true)
    expect(received.size).toBe(200)
    // The retry carried only the entries after the last whole one received.
    const retry = JSON.parse(await (await fetch(`${server.url}/v1/window/faults/half?seq=0&after=${after}`)).text()) as { entries: Array<{ seq: number }> }
    const refetched = retry.entries.filter((entry) => entry.seq <= after)
    expect(refetched).toEqual([])
    console.log(
      `cut window: ${full.length} bytes, 200 entries; cut once about ${cutAt} bytes of it had reached the client; ` +
        `resumed with after=${after}; the retry carried ${retry.entries.length} entries; refetched beyond the cut point: ${refetched.length} entries, 0 bytes`,
    )
  })
})

describe('stalled requests', () => {
  test('a window fetch the network swallows is given up after the stall time, and retried', async ({ serve, connect, proxy }) => {
    // The server's own timeouts far off: only the client's stall time can end a try.
    const server = await serve({ headersTimeoutMs: 300_000, requestTimeoutMs: 600_000, idleTimeoutMs: 600_000 })
    const setup = connect(server.url).client.stream('faults/stalled')
    await setup.create()
    await setup.append([merge({ a: 1 }), merge({ b: 2 })])
    const net = await proxy(server.url)
    const { client, events } = connect(net.url, { stallTimeoutMs: 300, fetchAttempts: 1000, backoff: { initialMs: 5, maxMs: 20 } })
    const stream = client.stream('faults/stalled')
    const tries = (): number => events.filter((e) => e.type === 'request' && e.url.startsWith('/v1/window/')).length
    // Every byte held back, both ways: without a stall time, the fetch would wait for ever.
    net.stall()
    const window = stream.window({ seq: 1 })
    await vi.waitFor(() => expect(tries()).toBeGreaterThanOrEqual(2), { timeout: 60_000, interval: 10 })
    net.resume()
    expect((await window).entries.map((entry) => entry.seq)).toEqual([1, 2])
    // Each try given up was a connection of its own.
    expect(net.opened).toBeGreaterThanOrEqual(2)
    expect(await stream.snapshotAt(Number.MAX_SAFE_INTEGER)).toMatchObject({ seq: 2, state: { a: 1, b: 2 } })
  })
})
