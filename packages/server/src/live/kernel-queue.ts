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
 * less everything acknowledged since.
 *
 * Reading those tables costs a scan of one line per socket of the machine, so it is done on
 * demand and at most once per `minIntervalMs`: `queued` is an upper bound (the queue at the last
 * read plus everything handed to the kernel since, as if none of it were acknowledged), and only
 * when that bound is over a budget does the owner ask for `confirm`, which reads the tables again
 * unless they were read within the interval. A reader that keeps up is thus never mistaken for one
 * that does not; one that stalls is seen within an interval or two. Where the tables do not exist,
 * the kernel's share counts as 0.
 */
import { accessSync, constants, readFileSync } from 'node:fs'
import type { Socket } from 'node:net'

/** Default shortest time between two reads of the kernel's tables, in ms. */
export const KERNEL_QUEUE_INTERVAL_MS = 20

/** Bytes unacknowledged for less than this (ms) are in flight, not held for a stalled reader. */
export const IN_FLIGHT_MS = 200

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6']

interface Watched {
  /** `tx_queue` at the last read. */
  queued: number
  /** What this process had handed the kernel then (`bytesWritten - writableLength`). */
  handed: number
  /** Of `queued`, what was handed to the kernel over `IN_FLIGHT_MS` before that read. */
  held: number
  /** What had been handed to the kernel when, oldest first: the last one over `IN_FLIGHT_MS` old, and the newer ones. */
  samples: Array<{ at: number; handed: number }>
}

export class KernelQueues {
  readonly #watched = new Map<Socket, Watched>()
  readonly #minIntervalMs: number
  #readAt = Number.NEGATIVE_INFINITY
  #available = TABLES.some((table) => readable(table))

  constructor(minIntervalMs = KERNEL_QUEUE_INTERVAL_MS) {
    this.#minIntervalMs = minIntervalMs
  }

  /** False where the kernel does not report its queues (then they count as 0). */
  get available(): boolean {
    return this.#available
  }

  /** Watches `socket` until the returned function is called. */
  watch(socket: Socket): () => void {
    if (!this.#available) return () => {}
    const handed = handedToKernel(socket)
    this.#watched.set(socket, { queued: 0, handed, held: 0, samples: [{ at: performance.now(), handed }] })
    return () => this.#watched.delete(socket)
  }

  /** At most the bytes the kernel holds for `socket` (see the header comment). */
  queued(socket: Socket): number {
    const watched = this.#watched.get(socket)
    if (watched === undefined) return 0
    return watched.queued + Math.max(0, handedToKernel(socket) - watched.handed)
  }

  /**
   * The bytes the kernel has held for `socket` for longer than `IN_FLIGHT_MS` (at most
   * `queued`), as of a read of the tables made now — unless they were read within the interval,
   * then as of that read; `fresh` says which.
   */
  confirm(socket: Socket): { bytes: number; fresh: boolean } {
    const fresh = performance.now() - this.#readAt >= this.#minIntervalMs
    if (fresh) this.refresh()
    return { bytes: this.#watched.get(socket)?.held ?? 0, fresh }
  }

  /** Reads the kernel's tables now, for every watched socket. */
  refresh(): void {
    const now = performance.now()
    this.#readAt = now
    if (this.#watched.size === 0) return
    // Sockets by their ends, as the tables name them: `<local port>:<remote address>:<remote port>`.
    const byEnds = new Map<string, Watched>()
    for (const [socket, watched] of this.#watched) {
      watched.handed = handedToKernel(socket)
      watched.queued = 0
      const key = endsKey(socket)
      if (key !== undefined) byEnds.set(key, watched)
    }
    let read = false
    for (const table of TABLES) {
      let text: string
      try {
        text = readFileSync(table, 'latin1')
      } catch {
        continue
      }
      read = true
      scan(text, byEnds)
    }
    if (!read) this.#available = false
    for (const watched of this.#watched.values()) age(watched, now)
  }
}

/** Sets `held` from the last read, and keeps only the samples a later read may need. */
function age(watched: Watched, now: number): void {
  const { samples } = watched
  samples.push({ at: now, handed: watched.handed })
  // The newest sample at least IN_FLIGHT_MS old stays; every older one goes.
  let old = 0
  while (old + 1 < samples.length && (samples[old + 1] as { at: number }).at <= now - IN_FLIGHT_MS) old++
  samples.splice(0, old)
  const first = samples[0] as { at: number; handed: number }
  const handedLongAgo = first.at <= now - IN_FLIGHT_MS ? first.handed : 0
  const acknowledged = watched.handed - watched.queued
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
  return socket.bytesWritten - socket.writableLength
}

/**
 * Adds each watched socket's `tx_queue` from one table's text. A line is
 * `sl: local_addr:port rem_addr:port st tx_queue:rx_queue …`, addresses and numbers in hex; a
 * line whose `tx_queue` is zero is passed over without looking further.
 */
function scan(text: string, byEnds: Map<string, Watched>): void {
  let start = text.indexOf('\n') + 1 // past the header line
  while (start > 0 && start < text.length) {
    const end = text.indexOf('\n', start)
    const stop = end === -1 ? text.length : end
    const fields = firstFields(text, start, stop, 5)
    start = stop + 1
    const queues = fields[4]
    if (queues === undefined || queues.startsWith('00000000:')) continue
    const local = fields[1] as string
    const remote = fields[2] as string
    const localPort = parseInt(local.slice(local.indexOf(':') + 1), 16)
    const remoteColon = remote.indexOf(':')
    const key = `${localPort}:${procAddress(remote.slice(0, remoteColon))}:${parseInt(remote.slice(remoteColon + 1), 16)}`
    const watched = byEnds.get(key)
    if (watched !== undefined) watched.queued = parseInt(queues.slice(0, queues.indexOf(':')), 16)
  }
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
