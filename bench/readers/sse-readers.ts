/**
 * A process of SSE readers, separate from every server: it opens `count` event streams to one
 * URL and measures, for every event it receives, the delay from the writer's send time to the
 * arrival of the bytes. The writer puts its send time in the message as `"t":<µs>` on the
 * monotonic clock, which every process of the machine shares, so any server's events can be read
 * the same way: statestream's `event: entry`, the reference server's `event: data`, the bare
 * server's `data:`. Also used to hold thousands of idle connections for the memory workload.
 *
 * Commands: open { url, count }, arm { since }, collect, close.
 */
import { connect } from 'node:net'
import type { Socket } from 'node:net'
import { memory, serve } from '../lib/proc.ts'
import { nowUs, percentiles } from '../lib/stats.ts'

const T = /"t":(\d+)/g

/**
 * One event stream over a raw socket: the request is written by hand and the response is only
 * scanned for `"t":<µs>`, never parsed as HTTP, so a reader costs the same little CPU whichever
 * server it reads (chunk-size lines of a chunked body hold no such text, and a number never spans
 * a line, so scanning complete lines is enough).
 */
interface Reader {
  socket: Socket
  carry: string
  received: number
}

let readers: Reader[] = []
let since = Number.POSITIVE_INFINITY
let samples = new Float64Array(1 << 16)
let sampleCount = 0

function record(latencyUs: number): void {
  if (sampleCount === samples.length) {
    const bigger = new Float64Array(samples.length * 2)
    bigger.set(samples)
    samples = bigger
  }
  samples[sampleCount++] = latencyUs
}

function onChunk(reader: Reader, chunk: string): void {
  const arrived = nowUs()
  const text = reader.carry + chunk
  const end = text.lastIndexOf('\n')
  if (end < 0) {
    reader.carry = text
    return
  }
  reader.carry = text.slice(end + 1)
  const lines = text.slice(0, end)
  if (!lines.includes('"t":')) return
  for (const match of lines.matchAll(T)) {
    const sent = Number(match[1])
    if (sent >= since) {
      record(arrived - sent)
      reader.received++
    }
  }
}

/** Opens one event stream; resolves once the status line and first bytes have arrived. */
function open(url: string): Promise<Reader> {
  const { hostname, port, pathname, search } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), noDelay: true })
    const reader: Reader = { socket, carry: '', received: 0 }
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer from ${url} within 30 s`))
    }, 30_000)
    let first = true
    socket.setEncoding('latin1')
    socket.on('connect', () => {
      socket.write(`GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    })
    socket.on('data', (chunk: string) => {
      if (first) {
        first = false
        clearTimeout(timer)
        if (!chunk.startsWith('HTTP/1.1 200')) {
          socket.destroy()
          reject(new Error(`${url}: ${chunk.split('\r\n')[0]}`))
          return
        }
        resolve(reader)
      }
      onChunk(reader, chunk)
    })
    socket.on('error', (error) => {
      clearTimeout(timer)
      if (first) reject(error)
    })
  })
}

serve({
  ready: () => ({ pid: process.pid }),
  /** Opens `count` more streams to `url`, `parallel` at a time. */
  open: async (args) => {
    const url = args.url as string
    const count = args.count as number
    const parallel = (args.parallel as number | undefined) ?? 100
    let left = count
    const worker = async (): Promise<void> => {
      while (left > 0) {
        left--
        readers.push(await open(url))
      }
    }
    await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker))
    return { open: readers.length }
  },
  /** Starts recording events sent at or after `since` (µs, monotonic). */
  arm: (args) => {
    since = args.since as number
    sampleCount = 0
    for (const reader of readers) reader.received = 0
    return true
  },
  /**
   * Waits (at most `waitMs`) until every reader has `expected` events, then gives latency
   * percentiles (ms). An event still missing then counts with the delay from `lastSent` (µs, the
   * last write's send time) to that moment: a lower bound of its real delay, so a server that
   * falls behind is never flattered by the events it has not delivered yet.
   */
  collect: async (args) => {
    const expected = args.expected as number
    const deadline = Date.now() + (args.waitMs as number)
    while (readers.some((reader) => reader.received < expected) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const counts = readers.map((reader) => reader.received)
    const missing = counts.reduce((sum, count) => sum + Math.max(0, expected - count), 0)
    const lowerBound = nowUs() - (args.lastSent as number)
    for (let i = 0; i < missing; i++) record(lowerBound)
    const [p50, p99, max] = percentiles(samples.subarray(0, sampleCount), [50, 99, 100])
    return {
      samples: sampleCount - missing,
      missing,
      p50: (p50 ?? Number.NaN) / 1000,
      p99: (p99 ?? Number.NaN) / 1000,
      max: (max ?? Number.NaN) / 1000,
      minPerReader: Math.min(...counts),
      maxPerReader: Math.max(...counts),
    }
  },
  close: () => {
    for (const reader of readers) reader.socket.destroy()
    readers = []
    return true
  },
  memory: () => memory(),
})
