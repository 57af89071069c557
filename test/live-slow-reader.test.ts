/**
 * Slow readers: appends never wait for live readers, and a reader that stops reading is cut with
 * `SLOW_READER` once its buffer is full — the others keep receiving everything at their usual
 * pace, the server does not hold the backlog, and the cut reader resumes from its last id
 * without loss. Latencies are compared loosely: this must pass on a slow, busy machine.
 */
import type { Json } from '@statestream/common'
import { expect } from 'vitest'
import { liveTest as test, append, createStateStream, getJson } from './support/live-server.ts'
import { SseReader } from './support/sse.ts'
import { StateModel } from './support/state-model.ts'

const PAYLOAD = 'x'.repeat(48 * 1024)
/**
 * The readers' budget: a score of entries. Between two reads of the kernel's tables a reader is
 * handed at most its budget, so a budget of one or two entries would hold every reader, fast or
 * not, to the pace of those reads.
 */
const BUDGET = 1024 * 1024

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] ?? 0
}

/**
 * Appends `count` entries one at a time and returns, per entry, how long the slowest of `readers`
 * took to receive it after the append was sent, in ms. Every reader must get every entry.
 */
async function appendAndMeasure(url: string, name: string, readers: Array<{ reader: SseReader; model: StateModel }>, count: number, from: number): Promise<number[]> {
  const latencies: number[] = []
  for (let i = 0; i < count; i++) {
    const seq = from + i + 1
    const sent = performance.now()
    await append(url, name, JSON.stringify({ merge: { i: seq, blob: PAYLOAD } }))
    let received = sent
    for (const { reader, model } of readers) {
      await model.follow(reader, seq)
      const event = reader.events.findLast((candidate) => candidate.event === 'entry')
      received = Math.max(received, event?.at ?? received)
    }
    latencies.push(received - sent)
  }
  return latencies
}

test('a reader that never reads is cut with SLOW_READER; the others get everything, unslowed; it resumes without loss', { timeout: 180_000 }, async ({ serve }) => {
  const { url } = await serve({ maxBufferedBytes: BUDGET, heartbeatMs: 60_000 })
  const name = await createStateStream(url, 'slow/one', 50)

  const fast = await Promise.all(
    Array.from({ length: 3 }, async () => {
      const reader = await SseReader.open(`${url}/v1/live/${name}`)
      const model = new StateModel()
      model.apply(await reader.next())
      return { reader, model }
    }),
  )
  const without = await appendAndMeasure(url, name, fast, 30, 0)

  // The slow reader connects, takes nothing from its socket, and the writer keeps going: far more
  // data than any socket buffers plus its allowance hold.
  const slow = await SseReader.open(`${url}/v1/live/${name}`, { paused: true })
  expect(slow.status).toBe(200)
  const total = 30 + 300
  const withSlow = await appendAndMeasure(url, name, fast, 300, 30)

  // The others were not held back: their typical latency stays in the same range (loosely).
  expect(median(withSlow)).toBeLessThan(Math.max(10 * median(without), 250))
  for (const { model } of fast) expect(model.seq).toBe(total)

  // Now the slow reader reads what reached it: a gapless prefix, then SLOW_READER (or the cut).
  slow.resume()
  await slow.waitEnd(60_000)
  const model = new StateModel()
  const error = slow.events.find((event) => event.event === 'error')
  for (const event of slow.events) if (event.event !== 'error') model.apply(event)
  expect(model.seq, 'the server did not keep the whole backlog for it').toBeLessThan(total)
  if (error !== undefined) {
    expect(JSON.parse(error.data).error.code).toBe('SLOW_READER')
    expect(slow.events.at(-1)).toBe(error)
  }

  // It resumes from its last id and loses nothing.
  const resumed = await SseReader.open(`${url}/v1/live/${name}`, { headers: { 'last-event-id': String(model.seq) } })
  await model.follow(resumed, total)
  expect(model.state).toEqual((await getJson<{ state: Json }>(url, `/v1/state/${name}`)).body.state)
  resumed.close()
  for (const { reader } of fast) reader.close()
})

test('multiplexed: a stalled reader is cut, while another keeps its entries and its clock ticks', { timeout: 180_000 }, async ({ serve }) => {
  const { url } = await serve({ maxBufferedBytes: BUDGET, clockMs: 100 })
  const name = await createStateStream(url, 'slow/multi', 50)
  const stalled = await SseReader.open(`${url}/v1/live?stream=${name}`, { paused: true })
  const reader = await SseReader.open(`${url}/v1/live?stream=${name}`)
  expect((await reader.next()).event).toBe('window')

  const total = 300
  let lastGpos = 0
  let clocks = 0
  // The writer stays within AHEAD entries of the reader that keeps up (well inside its budget), so
  // that reader keeps up however busy the machine is; the stalled one falls ever further behind.
  const AHEAD = 4
  let received = 0
  let caughtUp: (() => void) | undefined
  const writing = (async () => {
    for (let i = 1; i <= total; i++) {
      while (received < i - AHEAD) await new Promise<void>((resolve) => (caughtUp = resolve))
      await append(url, name, JSON.stringify({ merge: { i, blob: PAYLOAD } }))
    }
  })()
  // A failure of the writer surfaces here rather than as an unhandled rejection after the test.
  const written = writing.then(
    () => undefined,
    (error: unknown) => error,
  )
  // Follow as a client would: entries in order, clock ticks never behind what was received.
  for (let seq = 0; seq < total; ) {
    const event = await reader.next()
    const data = JSON.parse(event.data) as { seq: number; gpos: number }
    if (event.event === 'entry') {
      expect(data.seq).toBe(seq + 1)
      seq = data.seq
      received = seq
      caughtUp?.()
      lastGpos = data.gpos
    } else if (event.event === 'clock') {
      expect(data.gpos).toBeGreaterThanOrEqual(lastGpos)
      clocks += 1
    } else if (event.event !== 'bound') {
      throw new Error(`unexpected ${event.event}: ${event.data}`)
    }
  }
  expect(await written).toBeUndefined()
  // Ticks kept coming while the writer was busy and the stalled reader backed up (and after).
  expect(clocks).toBeGreaterThanOrEqual(1)
  await reader.waitFor((event) => event.event === 'clock')

  stalled.resume()
  await stalled.waitEnd(60_000)
  const entries = stalled.events.filter((event) => event.event === 'entry')
  expect(entries.length).toBeLessThan(total)
  const error = stalled.events.find((event) => event.event === 'error')
  if (error !== undefined) expect(JSON.parse(error.data).error.code).toBe('SLOW_READER')
  reader.close()
})
