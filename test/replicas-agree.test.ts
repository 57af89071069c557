/**
 * Three replicas over one PostgreSQL database keep the contract of one server (DESIGN §2.6):
 * - writers on A and B, readers on C (one stream, and several multiplexed): every entry once, in
 *   seq order per stream and in one gpos order that every replica's readers agree on;
 * - idempotent producers retrying on another replica store each message once, and `Stream-Seq`
 *   fences across replicas;
 * - fifty writers through three replicas: seq gapless, the state equal to a replay of the log, a
 *   snapshot wherever the policy says;
 * - a close on one replica while others append: what was acknowledged is before it, what came
 *   after is refused, and every replica's readers see the same end;
 * - a write through one replica is seen by a read through another at once (no stale cache).
 */
import { apply } from '@statestream/common'
import type { Json, Mutation } from '@statestream/common'
import { request } from 'undici'
import { describe, expect } from 'vitest'
import { append, createStateStream } from './support/live-server.ts'
import { headOf, readLog, replicaTest as test } from './support/replicas.ts'
import { SseReader } from './support/sse.ts'
import type { SseEvent } from './support/sse.ts'
import { StateModel } from './support/state-model.ts'

interface MultiEntry {
  stream: string
  seq: number
  gpos: number
  m: Mutation
}

/** A multiplexed reader's entries, checked as they arrive: gpos increasing, each stream gapless. */
class MultiOrder {
  readonly entries: MultiEntry[] = []
  readonly seqs = new Map<string, number>()
  gpos = -1

  apply(event: SseEvent): void {
    const data = JSON.parse(event.data) as Record<string, unknown>
    if (event.event === 'window') {
      const window = data as { stream: string; start: { seq: number }; entries: Array<{ seq: number }> }
      // Its gpos comes with the clock that ends the initial data.
      this.seqs.set(window.stream, window.entries.at(-1)?.seq ?? window.start.seq)
    } else if (event.event === 'entry') {
      const entry = data as unknown as MultiEntry
      expect(entry.gpos, 'entries in gpos order').toBeGreaterThan(this.gpos)
      expect(entry.seq, `${entry.stream}: the entry after ${this.seqs.get(entry.stream)}`).toBe((this.seqs.get(entry.stream) ?? -1) + 1)
      this.seqs.set(entry.stream, entry.seq)
      this.gpos = entry.gpos
      this.entries.push(entry)
    } else if (event.event === 'clock') {
      // A tick claims every entry up to its gpos was sent: none may come after it at or below it.
      expect(data.gpos as number, 'a clock tick never goes back').toBeGreaterThanOrEqual(this.gpos)
      this.gpos = data.gpos as number
    } else if (event.event === 'error') {
      throw new Error(`error event: ${event.data}`)
    }
  }

  async follow(reader: SseReader, heads: Record<string, number>): Promise<void> {
    while (Object.entries(heads).some(([stream, seq]) => (this.seqs.get(stream) ?? -1) < seq)) this.apply(await reader.next())
  }
}

const multiUrl = (url: string, streams: readonly string[]): string =>
  `${url}/v1/live?${streams.map((stream) => `stream=${encodeURIComponent(stream)}`).join('&')}`

/** A POST of `mutations` with optional producer or Stream-Seq headers; the status and body. */
async function post(url: string, name: string, mutations: Mutation[], headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const response = await request(`${url}/v1/stream/${name}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(mutations),
  })
  return { status: response.statusCode, body: await response.body.text() }
}

/** The state a replay of `log` from `{}` reaches. */
function replay(log: readonly Mutation[]): Json {
  let state: Json = {}
  for (const mutation of log) state = apply(state, mutation)
  return state
}

describe('three replicas over one database', () => {
  test('writers on A and B, readers on C: every entry once, in seq and gpos order, the same order on every replica', async ({ replicas }) => {
    const [a, b, c] = (await replicas(3, { clockMs: 100 })) as [string, string, string]
    const streams = ['agree/x', 'agree/y']
    for (const name of streams) await createStateStream(a, name, 8)

    const single = await SseReader.open(`${c}/v1/live/${streams[0]}`)
    const multiOnC = await SseReader.open(multiUrl(c, streams))
    const multiOnA = await SseReader.open(multiUrl(a, streams))
    const model = new StateModel()
    model.apply(await single.next())
    // Each multiplexed reader has its windows before anything is written: every write is an entry.
    const onC = new MultiOrder()
    const onA = new MultiOrder()
    const empty = Object.fromEntries(streams.map((name) => [name, 0]))
    await onC.follow(multiOnC, empty)
    await onA.follow(multiOnA, empty)

    // Two writers on each of A and B, each to both streams, all at once.
    const perWriter = 25
    await Promise.all(
      [a, a, b, b].map(async (replica, w) => {
        for (let i = 0; i < perWriter; i++) {
          const name = streams[i % 2] as string
          await append(replica, name, JSON.stringify({ merge: { [`w${w}`]: i, list: [w, i] } }))
        }
      }),
    )
    const heads = Object.fromEntries(await Promise.all(streams.map(async (name) => [name, (await headOf(c, name)).seq] as const)))
    expect(Object.values(heads).reduce((sum, seq) => sum + seq, 0)).toBe(4 * perWriter)

    // One stream on C: every seq once, in order, ending at C's own head state.
    while (model.seq < (heads[streams[0] as string] as number)) model.apply(await single.next())
    expect(model.seqs).toEqual(Array.from({ length: model.seqs.length }, (_, i) => i + 1))
    expect(model.state).toEqual((await headOf(c, streams[0] as string)).state)

    // Several streams on C and on A: each gapless, gpos increasing, and the very same order.
    await onC.follow(multiOnC, heads)
    await onA.follow(multiOnA, heads)
    expect(onC.entries.length).toBe(4 * perWriter)
    expect(onC.entries.map(({ stream, seq, gpos }) => [stream, seq, gpos])).toEqual(onA.entries.map(({ stream, seq, gpos }) => [stream, seq, gpos]))
    // What they sent is what every replica stores.
    for (const name of streams) {
      const log = await readLog(b, name)
      expect(onC.entries.filter((entry) => entry.stream === name).map((entry) => entry.m)).toEqual(log)
    }
    single.close()
    multiOnC.close()
    multiOnA.close()
  })

  test('producers retrying on another replica store each message once; Stream-Seq fences across replicas', async ({ replicas }) => {
    const servers = (await replicas(3)) as [string, string, string]
    const name = await createStateStream(servers[0], 'agree/producers')
    const producers = 6
    const requests = 12
    const statuses = new Map<number, number>()
    await Promise.all(
      Array.from({ length: producers }, async (_, p) => {
        for (let seq = 0; seq < requests; seq++) {
          const headers = { 'producer-id': `p${p}`, 'producer-epoch': '0', 'producer-seq': String(seq) }
          const mutations: Mutation[] = [{ merge: { [`p${p}`]: seq } }, { patch: [{ op: 'add', path: `/p${p}.${seq}`, value: true }] }]
          // The request and its retry race on two different replicas.
          const first = servers[(p + seq) % 3] as string
          const retry = servers[(p + seq + 1) % 3] as string
          const answers = await Promise.all([post(first, name, mutations, headers), post(retry, name, mutations, headers)])
          for (const { status } of answers) statuses.set(status, (statuses.get(status) ?? 0) + 1)
          expect(answers.map(({ status }) => status).sort(), `p${p}#${seq}: ${answers.map(({ body }) => body).join(' | ')}`).toEqual([200, 204])
        }
      }),
    )
    expect(statuses).toEqual(new Map([[200, producers * requests], [204, producers * requests]]))

    const log = await readLog(servers[2], name)
    expect(log.length).toBe(producers * requests * 2)
    // Each producer's requests once each, whole, in its order.
    for (let p = 0; p < producers; p++) {
      const mine = log.filter((m) => 'merge' in m && Object.keys((m as { merge: object }).merge)[0] === `p${p}`)
      expect(mine.map((m) => (m as { merge: Record<string, number> }).merge[`p${p}`])).toEqual(Array.from({ length: requests }, (_, i) => i))
    }
    expect((await headOf(servers[1], name)).state).toEqual(replay(log))

    // Stream-Seq: the same value on two replicas at once stores once (204), the other is a regression.
    const fenced = await createStateStream(servers[0], 'agree/stream-seq')
    for (let i = 1; i <= 10; i++) {
      const streamSeq = { 'stream-seq': String(i).padStart(4, '0') }
      const answers = await Promise.all(servers.slice(0, 2).map((server) => post(server, fenced, [{ merge: { i } }], streamSeq)))
      expect(answers.map(({ status }) => status).sort(), answers.map(({ body }) => body).join(' | ')).toEqual([204, 409])
      expect(answers.find(({ status }) => status === 409)?.body).toContain('STREAM_SEQ_REGRESSION')
    }
    expect((await readLog(servers[2], fenced)).length).toBe(10)
  })

  test('fifty concurrent writers through three replicas: seq gapless, the state equal to a replay', async ({ replicas }) => {
    const servers = (await replicas(3)) as [string, string, string]
    const name = await createStateStream(servers[0], 'agree/fifty', 16)
    await append(servers[0], name, JSON.stringify({ set: { list: [] } }))
    const writers = 50
    const perWriter = 8
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) {
          const server = servers[(w + i) % 3] as string
          // Order-sensitive list appends and merges: a lost or reordered entry shows in the state.
          const mutation = i % 2 === 0 ? { patch: [{ op: 'add', path: '/list/-', value: `${w}.${i}` }] } : { merge: { [`w${w}`]: i } }
          await append(server, name, JSON.stringify(mutation))
        }
      }),
    )
    const total = 1 + writers * perWriter
    const log = await readLog(servers[1], name)
    expect(log.length).toBe(total)
    const head = await headOf(servers[2], name)
    // Gapless: the head seq is the number of entries the log holds (each read back once, in order).
    expect(head.seq).toBe(total)
    expect((head.state as { list: string[] }).list.length).toBe((writers * perWriter) / 2)
    expect(head.state).toEqual(replay(log))
    for (const server of servers) expect((await headOf(server, name)).state).toEqual(head.state)
    // Snapshots by the policy, wherever the append that crossed it landed: a window every 16 entries.
    const { windows } = (await (await request(`${servers[1]}/v1/windows/${name}?from=0&to=${Number.MAX_SAFE_INTEGER}`)).body.json()) as {
      windows: Array<{ start: { seq: number }; end: { seq: number } | null }>
    }
    expect(windows.map((window) => window.start.seq)).toEqual(Array.from({ length: Math.floor(total / 16) + 1 }, (_, i) => i * 16))
    // And every seq from 1 to the head, once each, in order, read from the start through a replica.
    const reader = await SseReader.open(`${servers[0]}/v1/live/${name}?after=0`)
    const model = new StateModel({ state: {}, seq: 0 })
    while (model.seq < total) model.apply(await reader.next())
    expect(model.seqs).toEqual(Array.from({ length: total }, (_, i) => i + 1))
    expect(model.state).toEqual(head.state)
    reader.close()
  })

  test('a close on one replica while others append: acknowledged appends come before it, later ones are refused, every replica agrees', async ({ replicas }) => {
    const servers = (await replicas(3)) as [string, string, string]
    const name = await createStateStream(servers[0], 'agree/closing')
    const readers = await Promise.all(servers.map((server) => SseReader.open(`${server}/v1/live/${name}`)))
    const models = readers.map(() => new StateModel())
    for (const [i, reader] of readers.entries()) (models[i] as StateModel).apply(await reader.next())
    let closed = false
    const acknowledged: number[] = []
    const refused: number[] = []
    const appending = Promise.all(
      [servers[1], servers[2]].map(async (server, w) => {
        for (let i = 0; ; i++) {
          const { status, body } = await post(server, name, [{ merge: { [`w${w}`]: i } }])
          if (status === 204) acknowledged.push(w * 1000 + i)
          else {
            expect(status, body).toBe(409)
            expect(body).toContain('STREAM_CLOSED')
            refused.push(w * 1000 + i)
            return
          }
          // Close once both have stored some.
          if (acknowledged.length >= 20 && !closed) {
            closed = true
            const close = await request(`${servers[0]}/v1/stream/${name}`, { method: 'POST', headers: { 'stream-closed': 'true' } })
            await close.body.dump()
            expect(close.statusCode).toBe(204)
          }
        }
      }),
    )
    await appending
    expect(refused.length).toBe(2)
    const log = await readLog(servers[2], name)
    expect(log.length).toBe(acknowledged.length)
    // Every replica's tail got every entry once, then the final bound, and ended.
    for (const [i, reader] of readers.entries()) {
      const model = models[i] as StateModel
      while (model.seq < acknowledged.length) model.apply(await reader.next())
      const last = await reader.next()
      expect(last.event).toBe('bound')
      expect(JSON.parse(last.data)).toMatchObject({ seq: acknowledged.length, closed: true })
      await reader.waitEnd()
      expect(model.state).toEqual(replay(log))
    }
  })

  test('a write through one replica is read through another at once', async ({ replicas }) => {
    const servers = (await replicas(3)) as [string, string, string]
    const name = await createStateStream(servers[0], 'agree/read-your-write')
    for (let i = 0; i < 30; i++) {
      const writer = servers[i % 3] as string
      const reader = servers[(i + 1) % 3] as string
      await append(writer, name, JSON.stringify({ merge: { i } }))
      // Every read route, through another replica than the write went through.
      const head = await headOf(reader, name)
      expect(head).toMatchObject({ seq: i + 1, state: expect.objectContaining({ i }) })
      const log = await readLog(reader, name)
      expect(log.length).toBe(i + 1)
    }
  })
})
