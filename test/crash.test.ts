/**
 * kill -9 during sustained appends, in both durability modes: the standalone server is killed
 * (SIGKILL: no shutdown of any kind) while several idempotent producers append to a state stream,
 * then started again on the same file. After every restart:
 * - every acknowledged append is in the log, exactly once, in each producer's order;
 * - nothing is in it twice, and nothing is in it that no producer sent;
 * - the state the server answers equals a replay of its own log;
 * - a retry of the request in flight at the kill is a duplicate or stored now, never a gap, and a
 *   retry of an acknowledged one is a duplicate.
 *
 * Bounded for CI (3 cycles per mode). Knobs: CRASH_CYCLES, CRASH_WRITERS, CRASH_MAX_LOAD_MS;
 * CRASH_REPORT=1 prints the totals.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import { Agent, request } from 'undici'
import { describe, expect, test } from 'vitest'
import { killServer, startServer, stopServer } from './support/server-process.ts'
import type { ServerProcess } from './support/server-process.ts'

const CYCLES = Number(process.env.CRASH_CYCLES ?? 3)
const WRITERS = Number(process.env.CRASH_WRITERS ?? 4)
const MAX_LOAD_MS = Number(process.env.CRASH_MAX_LOAD_MS ?? 400)
const STREAM = 'crash/state'
const EPOCH = 1

/** One producer: the next seq to send, and every seq the server acknowledged. */
interface Writer {
  id: string
  next: number
  acked: Set<number>
  /** The request in flight when the server died, if any (its seq). */
  inFlight: number | undefined
}

/** Messages of producer append `seq` of `writer`: a batch of one to three, each naming its place. */
function messagesOf(writer: string, seq: number): Mutation[] {
  const parts = 1 + (seq % 3)
  return Array.from({ length: parts }, (_, part) => ({ merge: { [writer]: `${seq}.${part}`, last: `${writer}.${seq}.${part}` } }))
}

async function appendAs(url: string, agent: Agent, writer: Writer, seq: number): Promise<number> {
  const response = await request(`${url}/v1/stream/${STREAM}`, {
    method: 'POST',
    dispatcher: agent,
    headers: {
      'content-type': 'application/json',
      'producer-id': writer.id,
      'producer-epoch': String(EPOCH),
      'producer-seq': String(seq),
    },
    body: JSON.stringify(messagesOf(writer.id, seq)),
  })
  await response.body.dump()
  return response.statusCode
}

/** Appends as `writer` until `stop` says so or the server goes away. */
async function load(url: string, agent: Agent, writer: Writer, stop: () => boolean): Promise<void> {
  while (!stop()) {
    const seq = writer.next
    writer.inFlight = seq
    let status: number
    try {
      status = await appendAs(url, agent, writer, seq)
    } catch {
      return // the server died with it in flight: unacknowledged
    }
    expect(status, `append ${writer.id}#${seq}`).toBe(200)
    writer.acked.add(seq)
    writer.inFlight = undefined
    writer.next = seq + 1
  }
}

/** The whole log of the stream, as the catch-up read gives it (following Stream-Next-Offset). */
async function readLog(url: string): Promise<Mutation[]> {
  const out: Mutation[] = []
  let offset = '-1'
  for (;;) {
    const response = await request(`${url}/v1/stream/${STREAM}?offset=${offset}`)
    const messages = (await response.body.json()) as Array<Mutation & { ts: number }>
    expect(response.statusCode).toBe(200)
    for (const { ts: _ts, ...mutation } of messages) out.push(mutation as Mutation)
    offset = String(response.headers['stream-next-offset'])
    if (response.headers['stream-up-to-date'] === 'true') return out
  }
}

/** Checks everything the header comment promises against the restarted server; returns the entry count. */
async function verify(url: string, writers: Writer[]): Promise<number> {
  const log = await readLog(url)
  const seen = new Map<string, number>()
  let state: Json = {}
  for (const mutation of log) {
    state = apply(state, mutation)
    const token = (mutation as { merge: { last: string } }).merge.last
    expect(seen.has(token), `${token} is stored twice`).toBe(false)
    seen.set(token, seen.size)
  }
  for (const writer of writers) {
    let previous = -1
    for (let seq = 0; seq < writer.next + 1; seq++) {
      const tokens = messagesOf(writer.id, seq).map((m) => (m as { merge: { last: string } }).merge.last)
      const stored = tokens.map((token) => seen.get(token))
      if (writer.acked.has(seq)) {
        expect(stored.every((place) => place !== undefined), `acknowledged ${writer.id}#${seq} was lost`).toBe(true)
      }
      // A batch is all or nothing, and one producer's appends keep their order.
      expect(new Set(stored.map((place) => place === undefined)).size, `${writer.id}#${seq} stored in part`).toBe(1)
      if (stored[0] !== undefined) {
        expect(stored[0]).toBeGreaterThan(previous)
        previous = stored[stored.length - 1] as number
      }
    }
  }
  // Nothing stored that no producer sent (every token is some writer's, at most its next seq).
  for (const token of seen.keys()) {
    const [id, seq] = token.split('.')
    const writer = writers.find((w) => w.id === id)
    expect(writer, token).toBeDefined()
    expect(Number(seq)).toBeLessThanOrEqual((writer as Writer).next)
  }
  const head = await request(`${url}/v1/state/${STREAM}`)
  expect(((await head.body.json()) as { state: Json }).state).toEqual(state)
  return log.length
}

describe.for(['normal', 'full'] as const)('kill -9 during appends, durability %s', (durability) => {
  test(`${CYCLES} crash cycles lose nothing acknowledged and store nothing twice`, { timeout: 60_000 + CYCLES * 20_000 }, async () => {
    const dir = await mkdtemp(join(tmpdir(), 'statestream-crash-'))
    const args = ['--db', join(dir, 'crash.db'), '--durability', durability, '--log-level', 'info']
    const writers: Writer[] = Array.from({ length: WRITERS }, (_, i) => ({ id: `w${i}`, next: 0, acked: new Set(), inFlight: undefined }))
    let server: ServerProcess | undefined
    let acknowledged = 0
    let entries = 0
    try {
      server = await startServer(args)
      const created = await request(`${server.url}/v1/stream/${STREAM}`, {
        method: 'PUT',
        // Small windows: the kills land between snapshots and on them.
        headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '7' },
      })
      await created.body.dump()
      expect(created.statusCode).toBe(201)
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const agent = new Agent({ connections: WRITERS })
        let stopped = false
        const running = writers.map((writer) => load((server as ServerProcess).url, agent, writer, () => stopped))
        // Kill at a random moment of sustained load.
        await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * MAX_LOAD_MS))
        await killServer(server)
        stopped = true
        await Promise.all(running)
        await agent.destroy()
        server = await startServer(args)
        entries = await verify(server.url, writers)
        // Retries: what was in flight is a duplicate (stored before the kill) or stored now; an
        // acknowledged append again is a duplicate.
        const retry = new Agent({ connections: 1 })
        for (const writer of writers) {
          if (writer.inFlight !== undefined) {
            const status = await appendAs(server.url, retry, writer, writer.inFlight)
            expect([200, 204], `retry of ${writer.id}#${writer.inFlight}`).toContain(status)
            writer.acked.add(writer.inFlight)
            writer.next = writer.inFlight + 1
            writer.inFlight = undefined
          }
          const last = writer.next - 1
          if (last >= 0) expect(await appendAs(server.url, retry, writer, last), `re-sent ${writer.id}#${last}`).toBe(204)
        }
        await retry.close()
        entries = await verify(server.url, writers)
      }
      acknowledged = writers.reduce((sum, writer) => sum + writer.acked.size, 0)
      expect(acknowledged).toBeGreaterThan(0)
      if (process.env.CRASH_REPORT !== undefined) {
        process.stdout.write(`durability ${durability}: ${CYCLES} kill -9 cycles, ${acknowledged} acknowledged appends (${entries} entries), 0 lost, 0 duplicated\n`)
      }
      expect(await stopServer(server)).toBe(0)
      server = undefined
    } finally {
      if (server !== undefined) await killServer(server)
      await rm(dir, { recursive: true, force: true })
    }
  })
})
