/**
 * How many bytes the kernel holds for a socket: written by us, not yet acknowledged by the peer.
 *
 * Node counts only its own buffer (`writableLength`); beneath it the kernel's send buffer grows,
 * on Linux up to `net.ipv4.tcp_wmem` (4 MiB by default), for a reader that does not read. That
 * is the server's memory as much as its own buffer, so a live reader's budget counts it. Linux
 * reports each socket's send queue in `/proc/net/tcp` and `/proc/net/tcp6` (`tx_queue`).
 *
 * Not all of it is a backlog: the last few writes to a reader that keeps up are in flight, not
 * yet acknowledged (a delayed ACK alone holds them tens of ms). So what counts is what the peer has
 * left unacknowledged for longer than `IN_FLIGHT_MS`: bytes handed to the kernel that long ago,
 * less everything acknowledged since (`held`).
 *
 * Those tables list every TCP socket of the machine, `TIME_WAIT` ones included: with a few
 * thousand of them a read costs the kernel tens of ms of CPU, and far more wall time on a busy
 * machine. So they are never read on the event loop: a read is asynchronous, one at a time for
 * every watched socket, on request (`request`), and never sooner after the previous one than
 * `minIntervalMs` or `READ_COST_FACTOR` times as long as the previous one took (so reading takes
 * at most a fifth of the time), at most `MAX_INTERVAL_MS`; every completed read calls each
 * socket's `onRead`. Between reads `queued` estimates the queue: what it was at the last read,
 * plus everything handed to the kernel since, less — if the peer kept up, nothing being held for
 * it — what it acknowledged per ms between the last two reads times the ms since. For a peer that
 * was behind at the last read that is an upper bound, so an owner that never lets it pass a
 * budget keeps the kernel's share within the budget. A peer that keeps up is credited with its
 * pace, so it is not held to the pace of the reads, but with no more than a receive buffer
 * (`creditCap`) in all: one that stops reading only now has acknowledged no more than its receive
 * buffer took since, however long the next read is in coming (a busy machine delays them), so the
 * kernel's share stays within the budget and one receive buffer. Where the tables do not exist,
 * the kernel's share counts as 0.
 */
import { accessSync, constants, readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import type { Socket } from 'node:net'

/** Default shortest time between two reads of the kernel's tables, in ms. */
export const KERNEL_QUEUE_INTERVAL_MS = 20

/** The longest the interval between two reads grows to when reads are slow, in ms. */
export const MAX_INTERVAL_MS = 500

/** The interval is at least this many times as long as the last read took. */
const READ_COST_FACTOR = 4

/** Bytes unacknowledged for less than this (ms) are in flight, not held for a stalled reader. */
export const IN_FLIGHT_MS = 200

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6']

/** The receive buffer a peer starts with: Linux's `tcp_rmem` default, else 128 KiB. */
function defaultReceiveBuffer(): number {
  try {
    const value = Number(readFileSync('/proc/sys/net/ipv4/tcp_rmem', 'latin1').trim().split(/\s+/)[1])
    return Number.isSafeInteger(value) && value > 0 ? value : 131_072
  } catch {
    return 131_072
  }
}

interface Watched {
  /** `tx_queue` at the last read. */
  queued: number
  /** What this process had handed the kernel then (`handedToKernel`), as of just before it. */
  handed: number
  /** The same, as of just after it. */
  handedAfter: number
  /** Of `queued`, what was handed to the kernel over `IN_FLIGHT_MS` before that read. */
  held: number
  /** When that read began (what `handed` is as of). */
  readAt: number
  /** Bytes acknowledged by the peer per ms between the last two reads. */
  pace: number
  /** What had been handed to the kernel when, oldest first: the last one over `IN_FLIGHT_MS` old, and the newer ones. */
  samples: Array<{ at: number; handed: number }>
  /** Called after every completed read. */
  onRead: () => void
}

export class KernelQueues {
  readonly #watched = new Map<Socket, Watched>()
  readonly #minIntervalMs: number
  /** When the last read completed (performance.now()), and how long it took. */
  #readAt = Number.NEGATIVE_INFINITY
  #readMs = 0
  #reading: Promise<void> | undefined
  /** A read was asked for while one was under way: another follows it. */
  #wanted = false
  #timer: NodeJS.Timeout | undefined
  #available = TABLES.some((table) => readable(table))
  /** Completed reads that updated the watched sockets' figures. */
  #reads = 0
  /** The most a peer that kept up is credited with between two reads (bytes): a receive buffer. */
  readonly creditCap: number

  constructor(minIntervalMs = KERNEL_QUEUE_INTERVAL_MS, creditCap = defaultReceiveBuffer()) {
    this.#minIntervalMs = minIntervalMs
    this.creditCap = creditCap
  }

  /** How many reads have updated the watched sockets' figures so far: an estimate taken before the last one is stale. */
  get reads(): number {
    return this.#reads
  }

  /** False where the kernel does not report its queues (then they count as 0). */
  get available(): boolean {
    return this.#available
  }

  /** The shortest time from the end of one read to the start of the next, in ms (it adapts to how long reads take). */
  get intervalMs(): number {
    return Math.min(MAX_INTERVAL_MS, Math.max(this.#minIntervalMs, READ_COST_FACTOR * this.#readMs))
  }

  /** Watches `socket` until the returned function is called; `onRead` runs after every completed read. */
  watch(socket: Socket, onRead: () => void = () => {}): () => void {
    if (!this.#available) return () => {}
    const handed = handedToKernel(socket)
    const now = performance.now()
    this.#watched.set(socket, { queued: 0, handed, handedAfter: handed, held: 0, readAt: now, pace: 0, samples: [{ at: now, handed }], onRead })
    return () => {
      this.#watched.delete(socket)
      if (this.#watched.size === 0) {
        clearTimeout(this.#timer)
        this.#timer = undefined
      }
    }
  }

  /** The bytes the kernel holds for `socket`, as estimated since the last read (see the header comment). */
  queued(socket: Socket): number {
    const watched = this.#watched.get(socket)
    if (watched === undefined) return 0
    const credit = Math.min(this.creditCap, watched.pace * (performance.now() - watched.readAt))
    return Math.max(0, watched.queued + Math.max(0, handedToKernel(socket) - watched.handed) - credit)
  }

  /**
   * The bytes the kernel held for `socket` for longer than `IN_FLIGHT_MS`, as of the last
   * completed read; `fresh` says whether that read is recent (within two intervals), so that it
   * may still be judged by.
   */
  held(socket: Socket): { bytes: number; fresh: boolean } {
    const fresh = performance.now() - this.#readAt <= 2 * this.intervalMs + IN_FLIGHT_MS
    return { bytes: this.#watched.get(socket)?.held ?? 0, fresh }
  }

  /** Asks for a read of the tables: now if none is under way and the interval has passed, else as soon as it may. */
  request(): void {
    if (!this.#available || this.#timer !== undefined || this.#watched.size === 0) return
    if (this.#reading !== undefined) {
      this.#wanted = true
      return
    }
    const wait = this.#readAt + this.intervalMs - performance.now()
    if (wait <= 0) {
      void this.refresh()
      return
    }
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      void this.refresh()
    }, wait)
    this.#timer.unref()
  }

  /** Reads the kernel's tables now, for every watched socket (or joins the read under way). */
  refresh(): Promise<void> {
    this.#reading ??= this.#read()
    return this.#reading
  }

  async #read(): Promise<void> {
    let watchers: Watched[]
    try {
      watchers = await this.#scanTables()
    } finally {
      // Done before the owners hear of it: what they ask for then is a next read.
      this.#reading = undefined
    }
    if (this.#wanted) {
      this.#wanted = false
      this.request()
    }
    for (const watched of watchers) {
      try {
        watched.onRead()
      } catch {
        // One failing owner must not keep the others from hearing of the read.
      }
    }
  }

  /** Reads the tables into every watched socket's figures; returns those that were updated. */
  async #scanTables(): Promise<Watched[]> {
    const started = performance.now()
    // What each socket had handed to the kernel, taken before the tables are: the kernel writes
    // them later, so every byte it does not count as queued is in what is handed after this, and
    // `queued` stays an upper bound. Sockets by their ends, as the tables name them:
    // `<local port>:<remote address>:<remote port>`.
    const before = new Map<Socket, number>()
    const byEnds = new Map<string, Watched>()
    for (const [socket, watched] of this.#watched) {
      before.set(socket, handedToKernel(socket))
      const key = endsKey(socket)
      if (key !== undefined) byEnds.set(key, watched)
    }
    const texts = await Promise.all(TABLES.map((table) => readFile(table, 'latin1').catch(() => undefined)))
    const now = performance.now()
    this.#readAt = now
    this.#readMs = now - started
    if (texts.every((text) => text === undefined)) {
      this.#available = false
      return []
    }
    const found = new Map<Watched, number>()
    for (const text of texts) if (text !== undefined) scan(text, byEnds, found)
    // Only sockets watched all along the read are updated (one watched since has its own start).
    const watchers: Watched[] = []
    for (const [socket, watched] of this.#watched) {
      const handed = before.get(socket)
      if (handed === undefined) continue
      const queued = found.get(watched) ?? 0
      // Acknowledged by the two reads, at least: the peer's pace between them. (What was handed
      // while the tables were read is in neither `handed`; counting it as unacknowledged keeps
      // the pace a lower bound, as `queued` an upper one.)
      const pace = started > watched.readAt ? Math.max(0, handed - queued - (watched.handed - watched.queued)) / (started - watched.readAt) : 0
      watched.handed = handed
      watched.handedAfter = handedToKernel(socket)
      watched.queued = queued
      watched.readAt = started
      age(watched, started)
      // Only a peer that keeps up (nothing held for it) is credited with its pace: one whose
      // kernel stopped taking data (its receive buffer full) must not be credited with how fast
      // that buffer filled.
      watched.pace = watched.held === 0 ? pace : 0
      watchers.push(watched)
    }
    this.#reads++
    return watchers
  }
}

/**
 * Sets `held` from a read that began at `now` (`handed` as of then; the kernel wrote its tables
 * later, so what was handed `IN_FLIGHT_MS` before `now` is at least that old to the kernel), and
 * keeps only the samples a later read may need.
 */
function age(watched: Watched, now: number): void {
  const { samples } = watched
  samples.push({ at: now, handed: watched.handed })
  // The newest sample at least IN_FLIGHT_MS old stays; every older one goes.
  let old = 0
  while (old + 1 < samples.length && (samples[old + 1] as { at: number }).at <= now - IN_FLIGHT_MS) old++
  samples.splice(0, old)
  const first = samples[0] as { at: number; handed: number }
  const handedLongAgo = first.at <= now - IN_FLIGHT_MS ? first.handed : 0
  // At most what the peer had acknowledged (counting what was handed while the tables were read
  // as taken), so `held` is never more than the kernel really held.
  const acknowledged = watched.handedAfter - watched.queued
  watched.held = Math.max(0, Math.min(watched.queued, handedLongAgo - acknowledged))
}

function readable(file: string): boolean {
  try {
    accessSync(file, constants.R_OK)
    return true
  } catch {
    return false
  }
}

/** Bytes of `socket` this process has handed to the kernel (written, not waiting in Node's buffer). */
function handedToKernel(socket: Socket): number {
  return socket.bytesWritten - socket.writableLength + inKernelOfWrite(socket)
}

/** What Node and libuv see of a socket's write under way (internal fields, read defensively). */
interface WriteInternals {
  _writableState?: { writing?: boolean; writelen?: number }
  _handle?: { writeQueueSize?: number } | null
}

/**
 * Of the write under way on `socket`, the bytes already in the kernel. Node counts a write in
 * `writableLength` until all of it is out, while libuv hands a large one to the kernel piece by
 * piece: a 12 MB chunk to a reader that does not read sits a few MB in the kernel and the rest in
 * libuv's queue (`writeQueueSize`), all of it still in `writableLength`. Without this the part in
 * the kernel would count twice, once here and once in its tables. 0 where Node does not tell.
 */
export function inKernelOfWrite(socket: Socket): number {
  const internals = socket as unknown as WriteInternals
  const state = internals._writableState
  const pending = internals._handle?.writeQueueSize
  if (state?.writing !== true || typeof state.writelen !== 'number' || typeof pending !== 'number') return 0
  return Math.max(0, state.writelen - pending)
}

/**
 * Calls `visit` for each socket of one table's text with a send queue: its local port, its remote
 * end as the table has it (hex address and port) and its `tx_queue` in bytes. A line is
 * `sl: local_addr:port rem_addr:port st tx_queue:rx_queue …`, addresses and numbers in hex; a
 * line whose `tx_queue` is zero is passed over without looking further.
 */
function eachSendQueue(text: string, visit: (localPort: number, remote: string, bytes: number) => void): void {
  let start = text.indexOf('\n') + 1 // past the header line
  while (start > 0 && start < text.length) {
    const end = text.indexOf('\n', start)
    const stop = end === -1 ? text.length : end
    const fields = firstFields(text, start, stop, 5)
    start = stop + 1
    const queues = fields[4]
    if (queues === undefined || queues.startsWith('00000000:')) continue
    const local = fields[1] as string
    visit(parseInt(local.slice(local.indexOf(':') + 1), 16), fields[2] as string, parseInt(queues.slice(0, queues.indexOf(':')), 16))
  }
}

/** Finds each watched socket's `tx_queue` in one table's text (into `found`). */
function scan(text: string, byEnds: Map<string, Watched>, found: Map<Watched, number>): void {
  eachSendQueue(text, (localPort, remote, bytes) => {
    const remoteColon = remote.indexOf(':')
    const watched = byEnds.get(`${localPort}:${procAddress(remote.slice(0, remoteColon))}:${parseInt(remote.slice(remoteColon + 1), 16)}`)
    if (watched !== undefined) found.set(watched, bytes)
  })
}

/**
 * Bytes in the kernel's send queues of every socket of this machine whose local port is `port`
 * (a server's accepted connections), read asynchronously; undefined where the kernel does not
 * report them. For benchmarks and diagnostics: what a server's readers hold in the kernel.
 */
export async function sendQueueOfPort(port: number): Promise<number | undefined> {
  const texts = await Promise.all(TABLES.map((table) => readFile(table, 'latin1').catch(() => undefined)))
  if (texts.every((text) => text === undefined)) return undefined
  let total = 0
  for (const text of texts) {
    if (text !== undefined) eachSendQueue(text, (localPort, _remote, bytes) => (localPort === port ? (total += bytes) : 0))
  }
  return total
}

/** The first `count` space-separated fields of `text` between `from` and `to`. */
function firstFields(text: string, from: number, to: number, count: number): string[] {
  const fields: string[] = []
  let i = from
  while (fields.length < count && i < to) {
    while (i < to && text.charCodeAt(i) === 0x20) i++
    const begin = i
    while (i < to && text.charCodeAt(i) !== 0x20) i++
    if (i > begin) fields.push(text.slice(begin, i))
  }
  return fields
}

/** The key of `socket`'s ends, in the form `scan` builds from the tables. */
function endsKey(socket: Socket): string | undefined {
  const { localPort, remoteAddress, remotePort } = socket
  if (localPort === undefined || remoteAddress === undefined || remotePort === undefined) return undefined
  return `${localPort}:${canonicalAddress(remoteAddress)}:${remotePort}`
}

/**
 * An address from a table: 8 hex digits (IPv4) or 32 (IPv6), each 32-bit word in the host's
 * (little-endian) byte order, as dotted IPv4 when it is one (or an IPv4-mapped IPv6 address),
 * else eight full groups of IPv6.
 */
function procAddress(hex: string): string {
  const bytes: number[] = []
  for (let word = 0; word < hex.length; word += 8) {
    for (let b = 3; b >= 0; b--) bytes.push(parseInt(hex.slice(word + b * 2, word + b * 2 + 2), 16))
  }
  if (bytes.length === 4) return bytes.join('.')
  const mapped = bytes.slice(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff
  if (mapped) return bytes.slice(12).join('.')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push((((bytes[i] as number) << 8) | (bytes[i + 1] as number)).toString(16))
  return groups.join(':')
}

/** Node's form of an address in `procAddress`'s form. */
function canonicalAddress(address: string): string {
  const v4 = /(?:^|:)(\d+\.\d+\.\d+\.\d+)$/.exec(address)
  if (v4?.[1] !== undefined) return v4[1]
  // Expand `::` into the zero groups it stands for.
  const [head = '', tail] = address.split('::')
  const left = head === '' ? [] : head.split(':')
  const right = tail === undefined || tail === '' ? [] : tail.split(':')
  const zeros = Array.from({ length: 8 - left.length - right.length }, () => '0')
  return [...left, ...(tail === undefined ? [] : zeros), ...right].map((group) => parseInt(group, 16).toString(16)).join(':')
}
