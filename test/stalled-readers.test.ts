/**
 * Stalled readers cost only themselves: 100 live readers connect at once and never read, while a
 * writer appends more than any of them may hold (their budget counts the kernel's send buffer,
 * which alone takes megabytes per stalled socket). Then:
 * - every stalled reader has been cut, and when it reads again it finds a gapless prefix of the
 *   stream and `SLOW_READER` as its last event (delivered, not lost behind its backlog);
 * - it resumes from its last id and loses nothing;
 * - the readers that kept reading got every entry, in order;
 * - the server's memory for the stalled readers stayed bounded: the kernel's send queues and the
 *   process's heap hold about a budget per reader, not the backlog.
 *
 * Knobs for long runs: STALLED_READERS (default 100), STALLED_ENTRY_BYTES (16 KiB),
 * STALLED_BUDGET_BYTES (256 KiB); STALLED_REPORT=1 prints the figures.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { expect } from 'vitest'
import { liveTest as test, append, createStateStream, getJson } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import { StateModel } from './support/state-model.ts'
import type { Json } from '@statestream/common'
import { IN_FLIGHT_MS, KERNEL_QUEUE_INTERVAL_MS } from '../packages/server/src/live/kernel-queue.ts'

const STALLED = Number(process.env.STALLED_READERS ?? 100)
const ENTRY_BYTES = Number(process.env.STALLED_ENTRY_BYTES ?? 16 * 1024)
const BUDGET = Number(process.env.STALLED_BUDGET_BYTES ?? 256 * 1024)
/** Per stalled reader: well past its budget, yet short of what the kernel alone would take (4 MiB). */
const WRITTEN_PER_READER = 3 * 1024 * 1024
/**
 * Appends per second. A cut is decided on bytes unacknowledged for over 200 ms (so that what is
 * merely in flight never counts), so a stalled reader may hold its budget plus about 200 ms of
 * the stream: a steady writer keeps that overshoot known.
 */
const RATE = 50

/** Bytes in the kernel's send queues of the server's sockets on `port` (Linux; undefined elsewhere). */
function serverSendQueues(port: number): number | undefined {
  let total = 0
  let read = false
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string
    try {
      text = readFileSync(table, 'latin1')
    } catch {
      continue
    }
    read = true
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      const local = fields[1]
      const queues = fields[4]
      if (local === undefined || queues === undefined) continue
      if (parseInt(local.slice(local.indexOf(':') + 1), 16) !== port) continue
      total += parseInt(queues.slice(0, queues.indexOf(':')), 16)
    }
  }
  return read ? total : undefined
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
  const heapBefore = process.memoryUsage().heapUsed

  const entries = Math.ceil(WRITTEN_PER_READER / ENTRY_BYTES)
  // How late this process's timers ran (the server's among them): on a busy machine the server
  // learns of a stalled reader's backlog that much later, and the writer keeps writing meanwhile.
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  let seq = 0
  let peakQueues = 0
  while (seq < entries) {
    seq += 1
    const sent = performance.now()
    await append(url, name, JSON.stringify({ merge: { i: seq, blob: payload } }))
    for (const { reader, model } of readers) await model.follow(reader, seq)
    if (seq % 10 === 0) peakQueues = Math.max(peakQueues, serverSendQueues(port) ?? 0)
    // Paced (never faster than RATE, and never catching up in a burst after a delay): this sets
    // the pace, it orders nothing.
    const wait = sent + 1000 / RATE - performance.now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
  }
  lag.disable()
  const heapGrowth = process.memoryUsage().heapUsed - heapBefore
  const queues = serverSendQueues(port)

  // The readers that kept reading have everything, in order (the model checks each step).
  for (const { model } of readers) expect(model.seq).toBe(seq)
  // Memory: about a budget per stalled reader, plus what the stream carried while its backlog was
  // not yet known to be held (IN_FLIGHT_MS, and however late the server's timers ran), not the
  // 3 MiB written to each (which, without the kernel's share counted, sits in its send buffer).
  const unknownMs = IN_FLIGHT_MS + KERNEL_QUEUE_INTERVAL_MS + lag.max / 1e6
  const perReader = BUDGET + 512 * 1024 + Math.ceil((unknownMs * RATE) / 1000) * ENTRY_BYTES
  if (process.env.STALLED_REPORT) console.log({ maxLagMs: lag.max / 1e6, perReaderBound: perReader, peakQueues, queues, heapGrowth })
  if (queues !== undefined) expect(Math.max(peakQueues, queues)).toBeLessThan(STALLED * perReader)
  expect(heapGrowth).toBeLessThan(STALLED * perReader)

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
        `server send queues peak ${peakQueues} B (${Math.round(peakQueues / STALLED)} B per stalled reader), heap growth ${heapGrowth} B\n`,
    )
  }
  for (const { reader } of readers) reader.close()
})
