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

/**
 * One event stream over a raw socket: the request is written by hand and the response is only
 * scanned for `"t":<µs>`, never parsed as HTTP, so a reader costs the same little CPU whichever
 * server it reads (chunk-size lines of a chunked body hold no such text). The scan works on the
 * bytes as they come (no decoding, no strings): a reader process must not be what bounds the
 * figures it reports. A number cut by a chunk boundary is finished from the next chunk.
 */
interface Reader {
  socket: Socket
  /** The digits of a `"t":` number cut short by the end of the last chunk, or -1. */
  partial: number
  /** How many bytes of `"t":` the last chunk ended with (a marker cut by the boundary). */
  marker: number
  received: number
  /** The send times received since `arm`, in order of arrival (to tell late, skipped and never-sent events apart). */
  values: number[]
}

const MARKER = Buffer.from('"t":')
const ZERO = 0x30
const NINE = 0x39

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

function sent(reader: Reader, value: number, arrived: number): void {
  if (value >= since) {
    record(arrived - value)
    reader.received++
    reader.values.push(value)
  }
}

/** Reads the digits at `from`; returns the index after them (`chunk.length` when they may go on). */
function digits(reader: Reader, chunk: Buffer, from: number, value: number, arrived: number): number {
  let i = from
  while (i < chunk.length) {
    const c = chunk[i] as number
    if (c < ZERO || c > NINE) {
      sent(reader, value, arrived)
      reader.partial = -1
      return i
    }
    value = value * 10 + (c - ZERO)
    i++
  }
  reader.partial = value
  return i
}

function onChunk(reader: Reader, chunk: Buffer): void {
  const arrived = nowUs()
  let i = 0
  if (reader.partial >= 0) i = digits(reader, chunk, 0, reader.partial, arrived)
  else if (reader.marker > 0) {
    // The last chunk ended inside `"t":`: finish the marker here, if it goes on.
    const rest = MARKER.length - reader.marker
    const goesOn = chunk.length >= rest && chunk.compare(MARKER, reader.marker, MARKER.length, 0, rest) === 0
    reader.marker = 0
    if (goesOn) i = digits(reader, chunk, rest, 0, arrived)
  }
  for (;;) {
    const at = chunk.indexOf(MARKER, i)
    if (at < 0) break
    i = digits(reader, chunk, at + MARKER.length, 0, arrived)
  }
  if (reader.partial < 0) {
    // A marker cut by the end of the chunk: remember how much of it came.
    for (let k = Math.min(MARKER.length - 1, chunk.length - i); k > 0; k--) {
      if (chunk.compare(MARKER, 0, k, chunk.length - k) === 0) {
        reader.marker = k
        break
      }
    }
  }
}

/** Opens one event stream; resolves once the status line and first bytes have arrived. */
function open(url: string): Promise<Reader> {
  const { hostname, port, pathname, search } = new URL(url)
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port), noDelay: true })
    const reader: Reader = { socket, partial: -1, marker: 0, received: 0, values: [] }
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new Error(`no answer from ${url} within 30 s`))
    }, 30_000)
    let first = true
    socket.on('connect', () => {
      socket.write(`GET ${pathname}${search} HTTP/1.1\r\nHost: ${hostname}:${port}\r\nAccept: text/event-stream\r\n\r\n`)
    })
    socket.on('data', (chunk: Buffer) => {
      if (first) {
        first = false
        clearTimeout(timer)
        const head = chunk.toString('latin1', 0, Math.min(chunk.length, 200))
        if (!head.startsWith('HTTP/1.1 200')) {
          socket.destroy()
          reject(new Error(`${url}: ${head.split('\r\n')[0]}`))
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

/**
 * Where the events still missing at `collect` are: sent but received by no reader of this process
 * (the append failed, or was never told), or received by others but not by some reader. For
 * those readers, whether what they lack all comes after the last event they got (late: their
 * delivery stopped) or lies between events they got (skipped).
 */
function whereMissing(expected: number): { byNone: number; shortReaders: number; late: number; skipped: number; order: number } {
  const all = new Set<number>()
  for (const reader of readers) for (const value of reader.values) all.add(value)
  let shortReaders = 0
  let late = 0
  let skipped = 0
  let order = 0
  for (const reader of readers) {
    if (reader.received >= expected) continue
    shortReaders++
    const own = new Set(reader.values)
    let last = Number.NEGATIVE_INFINITY
    for (let i = 0; i < reader.values.length; i++) {
      const value = reader.values[i] as number
      if (value < last) order++
      last = Math.max(last, value)
    }
    for (const value of all) {
      if (own.has(value)) continue
      if (value > last) late++
      else skipped++
    }
  }
  return { byNone: Math.max(0, expected - all.size), shortReaders, late, skipped, order }
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
    for (const reader of readers) {
      reader.received = 0
      reader.values = []
    }
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
    const taken = samples.subarray(0, sampleCount)
    const gaps = missing > 0 ? whereMissing(expected) : undefined
    // Several reader processes merge their raw samples (ms) before taking percentiles.
    const raw = args.raw === true ? Array.from(taken, (us) => us / 1000) : undefined
    const [p50, p99, max] = percentiles(taken, [50, 99, 100])
    return {
      ...(raw !== undefined && { raw }),
      samples: sampleCount - missing,
      missing,
      p50: (p50 ?? Number.NaN) / 1000,
      p99: (p99 ?? Number.NaN) / 1000,
      max: (max ?? Number.NaN) / 1000,
      minPerReader: Math.min(...counts),
      maxPerReader: Math.max(...counts),
      ...(gaps !== undefined && { gaps }),
    }
  },
  close: () => {
    for (const reader of readers) reader.socket.destroy()
    readers = []
    return true
  },
  memory: () => memory(),
})
