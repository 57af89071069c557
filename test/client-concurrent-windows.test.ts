/**
 * Concurrent requests of one stream's windows (design §3, "Never refetch"): requests for
 * different stretches do not wait on each other, even when nothing tells them apart beforehand
 * (no window around them held); requests for the same missing stretch share one fetch, and when
 * it fails every one of them is told, with no request of its own.
 */
import { describe, expect } from 'vitest'
import { clientTest as test, merge } from './support/count-requests.ts'
import type { Gate } from './support/count-requests.ts'

// Entry times ahead of the clock: a writer's own times must not be earlier than the stream's creation.
const BASE = Date.now() + 3_600_000

/** A stream of 40 entries a second apart from `BASE + 1000`, a snapshot every 10: windows [0,10], [10,20], … */
async function fill(url: string, connect: (url: string) => { client: import('@statestream/client').StateStreamClient }, name: string): Promise<void> {
  const writer = connect(url).client.stream(name)
  await writer.create({ snapshot: { entries: 10 } })
  await writer.append(Array.from({ length: 40 }, (_, i) => ({ ...merge({ i: i + 1 }), ts: BASE + (i + 1) * 1000 })))
}

describe('concurrent window requests', () => {
  test('a request for another window goes ahead while the first is held up', async ({ serve, connect }) => {
    let release: () => void = () => {}
    const held = new Promise<void>((resolve) => (release = resolve))
    let heldUp = 0
    // The first window request of the reader (entry 5's time) is held until the test lets it go.
    const gate: Gate = async (request) => {
      if (request.url.startsWith('/v1/window/far/') && request.url.includes(`at=${BASE + 5000}`)) {
        heldUp += 1
        await held
      }
    }
    const server = await serve({}, gate)
    await fill(server.url, connect, 'far/a')
    const reader = connect(server.url).client.stream('far/a')

    const slow = reader.stateAt(BASE + 5000)
    // The request above is under way (and held) before the second is asked.
    for (let i = 0; i < 1000 && heldUp === 0; i++) await new Promise((resolve) => setImmediate(resolve))
    expect(heldUp).toBe(1)
    // Entry 35's window is another: answered while the first is still held up.
    expect(await reader.stateAt(BASE + 35_000)).toEqual({ i: 35 })
    release()
    expect(await slow).toEqual({ i: 5 })
    // Each window's entries came once.
    const fetched = server.served.windowEntries.get('far/a') as Map<number, number>
    expect([...fetched.values()].every((count) => count === 1)).toBe(true)
  })

  test('requests for one window wait for its fetch, share its failure, and send nothing of their own', async ({ serve, connect }) => {
    const gate: Gate = async (request, reply) => {
      if (request.url.startsWith('/v1/window/fail/')) return reply.code(503).header('content-type', 'application/json').send('{"error":{"code":"STORE_UNAVAILABLE","message":"down"}}')
    }
    const server = await serve({}, gate)
    await fill(server.url, connect, 'fail/a')
    const reader = connect(server.url, { fetchAttempts: 2, backoff: { initialMs: 1, maxMs: 2 } }).client.stream('fail/a')

    const outcomes = await Promise.allSettled([reader.stateAt(BASE + 1000), reader.stateAt(BASE + 2000), reader.stateAt(BASE + 3000)])
    expect(outcomes.map((outcome) => outcome.status)).toEqual(['rejected', 'rejected', 'rejected'])
    // One fetch, two attempts: the others waited for it.
    expect(server.served.requests.filter((line) => line.startsWith('GET /v1/window/fail/'))).toHaveLength(2)

    // The failed window was removed: a later request fetches it again (and fails again here).
    await expect(reader.stateAt(BASE + 1000)).rejects.toMatchObject({ code: 'STORE_UNAVAILABLE' })
    expect(server.served.requests.filter((line) => line.startsWith('GET /v1/window/fail/'))).toHaveLength(4)
  })
})
