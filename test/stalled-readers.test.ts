/**
 * Stalled readers cost only themselves: 100 live readers connect at once and never read, while a
 * writer appends more than any of them may hold (their budget counts the kernel's send buffer,
 * which alone takes megabytes per stalled socket). Then:
 * - every stalled reader has been cut, and when it reads again it finds a gapless prefix of the
 *   stream and `SLOW_READER` as its last event (delivered, not lost behind its backlog);
 * - it resumes from its last id and loses nothing;
 * - the readers that kept reading got every entry, in order;
 * - the server's memory for the stalled readers stayed bounded: the kernel's send queues of its
 *   sockets never held more than a budget per reader (the server hands the kernel no more than
 *   that, however seldom it manages to read the kernel's tables), where without the budget each
 *   would hold megabytes; and the process's memory, measured after a full collection, grew by
 *   less than the budgets plus a few times what the data itself costs (the readers that keep
 *   reading hold every entry), far from a copy of the backlog per stalled reader.
 *
 * Knobs for long runs: STALLED_READERS (default 100), STALLED_ENTRY_BYTES (16 KiB),
 * STALLED_BUDGET_BYTES (256 KiB); STALLED_REPORT=1 prints the figures.
 */
import { readFileSync } from 'node:fs'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { expect } from 'vitest'
import { liveTest as test, append, createStateStream, getJson } from './support/live-server.ts'
import { sendQueueOfPort } from '@statestream/server'
import { SseReader } from './support/sse.ts'
import { StateModel } from './support/state-model.ts'
import type { Json } from '@statestream/common'

const STALLED = Number(process.env.STALLED_READERS ?? 100)
const ENTRY_BYTES = Number(process.env.STALLED_ENTRY_BYTES ?? 16 * 1024)
const BUDGET = Number(process.env.STALLED_BUDGET_BYTES ?? 256 * 1024)
/** Per stalled reader: well past its budget, yet short of what the kernel alone would take (4 MiB). */
const WRITTEN_PER_READER = 3 * 1024 * 1024
/** Appends per second, at most (the writer never catches up in a burst). */
const RATE = 50

/** The default size of a TCP socket's receive buffer (Linux: `tcp_rmem`'s middle value; 128 KiB elsewhere). */
function receiveBuffer(): number {
  try {
    return Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'latin1').trim().split(/\s+/)[1] ?? 131_072)
  } catch {
    return 131_072
  }
}

/** A full garbage collection (the flag is set at run time, so no special start of the worker is needed). */
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

/** The process's memory that data can occupy (heap and buffers), after a full collection. */
function memoryAfterGc(): number {
  gc()
  gc()
  const { heapUsed, external } = process.memoryUsage()
  return heapUsed + external
}

test(`${STALLED} readers that never read are cut with SLOW_READER delivered; the others lose nothing; memory stays bounded`, { timeout: 180_000 }, async ({ serve }) => {
  const { app, url } = await serve({ maxBufferedBytes: BUDGET, slowReaderGraceMs: 120_000, heartbeatMs: 60_000 })
  const port = (app.server.address() as { port: number }).port
  const name = await createStateStream(url, 'stalled/one', 50)
  const payload = 'x'.repeat(ENTRY_BYTES)

  const readers = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const reader = await SseReader.open(`${url}/v1/live/${name}`)
      const model = new StateModel()
      model.apply(await reader.next())
      return { reader, model }
    }),
  )
  // All at once, as a burst of connecting clients.
  const stalled = await Promise.all(Array.from({ length: STALLED }, () => SseReader.open(`${url}/v1/live/${name}`, { paused: true })))
  for (const reader of stalled) expect(reader.status).toBe(200)
  const memoryBefore = memoryAfterGc()
  // The send queues, sampled in the background while the writer runs (paced: it orders nothing).
  let peakQueues = 0
  let writing = true
  const sampling = (async () => {
    while (writing) {
      peakQueues = Math.max(peakQueues, (await sendQueueOfPort(port)) ?? 0)
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()

  const entries = Math.ceil(WRITTEN_PER_READER / ENTRY_BYTES)
  let seq = 0
  while (seq < entries) {
    seq += 1
    const sent = performance.now()
    await append(url, name, JSON.stringify({ merge: { i: seq, blob: payload } }))
    for (const { reader, model } of readers) await model.follow(reader, seq)
    // Paced (never faster than RATE, and never catching up in a burst after a delay): this sets
    // the pace, it orders nothing.
    const wait = sent + 1000 / RATE - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  }
  writing = false
  await sampling
  const queues = await sendQueueOfPort(port)
  const memoryGrowth = memoryAfterGc() - memoryBefore

  // The readers that kept reading have everything, in order (the model checks each step).
  for (const { model } of readers) expect(model.seq).toBe(seq)
  // The kernel: at most a budget per reader (and its response head and first, empty window), for
  // the stalled readers and the three that read alike, plus about what a peer's receive buffer
  // took before it filled (until a read of the kernel's tables shows it stalled, the server
  // credits a peer that acknowledged everything with its pace) — not the megabytes each stalled
  // socket takes when the server hands it everything it has.
  const perReader = BUDGET + receiveBuffer() + 16 * 1024
  if (queues !== undefined) expect(Math.max(peakQueues, queues)).toBeLessThanOrEqual((STALLED + readers.length) * perReader)
  // The process: the server's own buffers hold at most a budget per stalled reader (shared
  // buffers once), the data itself is held a few times over (the readers' events and models,
  // the stream's caches), and some fixed overhead per connection and for the run.
  const data = entries * ENTRY_BYTES
  expect(memoryGrowth).toBeLessThan(STALLED * perReader + 8 * data + 32 * 1024 * 1024)

  // Each stalled reader now reads: a gapless prefix, then SLOW_READER as the very last event.
  let delivered = 0
  const models: StateModel[] = []
  for (const reader of stalled) {
    reader.resume()
    await reader.waitEnd(60_000)
    const model = new StateModel()
    const last = reader.events.at(-1)
    expect(last?.event, 'the last event of a cut reader').toBe('error')
    expect(JSON.parse(last?.data ?? '{}').error.code).toBe('SLOW_READER')
    delivered += 1
    for (const event of reader.events.slice(0, -1)) model.apply(event)
    expect(model.seq).toBeLessThan(seq)
    models.push(model)
  }
  // It resumes from its last id and loses nothing (a few of them, to keep the test short).
  const expected = (await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state
  for (const model of models.slice(0, 5)) {
    const resumed = await SseReader.open(`${url}/v1/live/${name}`, { headers: { 'last-event-id': String(model.seq) } })
    await model.follow(resumed, seq)
    expect(model.state).toEqual(expected)
    resumed.close()
  }
  if (process.env.STALLED_REPORT !== undefined) {
    process.stdout.write(
      `${STALLED} stalled readers, budget ${BUDGET} B, ${seq} entries of ${ENTRY_BYTES} B: ${delivered} cut with SLOW_READER delivered; ` +
        `server send queues peak ${peakQueues} B (${Math.round(peakQueues / STALLED)} B per stalled reader; bound ${(STALLED + readers.length) * perReader} B), ` +
        `memory growth ${memoryGrowth} B (bound ${STALLED * perReader + 8 * data + 32 * 1024 * 1024} B)\n`,
    )
  }
  for (const { reader } of readers) reader.close()
})
