/**
 * One server-sent-events response: the hijacked reply, a bounded backlog, and an orderly end.
 *
 * Appends never wait for readers, so a reader that does not keep up must not hold the server's
 * memory hostage. A reader's backlog is everything written for it and not yet taken by the
 * client: events waiting here, in Node's buffer, and in the kernel's send buffer (which, for a
 * client that stops reading, grows to megabytes: `KernelQueues`). Events go to the socket while it
 * takes them and wait here while it does not — and also while the kernel might hold more than
 * the budget: between two reads of the kernel's tables only an upper bound of its share is known,
 * so a reader never has more than its budget in the kernel, whatever the tables cost to read.
 * Once what waits here and in Node's buffer, plus what the kernel held at its last read, would
 * pass `maxBufferedBytes` the reader is cut: the events still waiting here are dropped,
 * `SLOW_READER` is written as the last event (right behind what the socket already holds, so a
 * client that reads again finds it), and the response ends; it resumes from its last id and loses
 * nothing. A stalled reader thus costs at most its budget in the kernel and its budget here. Such
 * a cut reader gets `slowReaderGraceMs` to take that end before its socket is destroyed. Initial
 * data (a window, a catch-up page) is granted on top of the budget until the backlog is back
 * within it, so a large first answer does not count as falling behind.
 *
 * Ticks (heartbeats, clocks) are different: they carry no data, so a backed-up reader gets one
 * tick, rendered afresh, once its socket drains, and a tick never pushes a reader over its budget.
 */
import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { ErrorCode } from '@statestream/common'
import type { FastifyReply } from 'fastify'
import { inKernelOfWrite, type KernelQueues } from './kernel-queue.ts'
import { errorEvent } from './live-events.ts'

/** Tunables of one connection. */
export interface SseConnectionOptions {
  /** Most bytes of backlog for a reader (here, in Node and in the kernel) before it is cut with `SLOW_READER`. */
  maxBufferedBytes: number
  /** How long an ended response may take to flush before its socket is destroyed, in ms. */
  closeGraceMs: number
  /** The same, for a reader cut with `SLOW_READER`: its time to resume reading and find why. */
  slowReaderGraceMs: number
  /** The kernel's share of the backlog; without it only this process's buffers count. */
  kernel?: KernelQueues
  /**
   * Whether `fail` sends `event: error` before ending. The Durable Streams SSE mode has no
   * in-band errors: its readers just reconnect from their last offset.
   */
  errorEvents: boolean
  /** Response headers besides the SSE ones. */
  headers?: Readonly<Record<string, string>>
}

/** A chunk to write: pre-encoded when many readers share it. */
export type Chunk = string | Buffer

const SSE_HEADERS = {
  // SSE is always UTF-8 (no charset parameter: some readers compare the type exactly).
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache, no-store',
  connection: 'keep-alive',
  // Tell nginx-style proxies not to buffer the stream.
  'x-accel-buffering': 'no',
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'cross-origin',
} as const

/**
 * Most budgets' worth of events that may wait here for a reader whose socket has room but whose
 * kernel share is not yet known: past them it is cut even though the kernel's tables do not show
 * it behind (it takes data, but slower than the stream comes).
 */
const QUEUE_BUDGETS = 8

/** Most bytes the chunked encoding adds to one write: its size in hex and two line ends. */
const CHUNK_FRAMING = 12

function sizeOf(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
}

export class SseConnection {
  readonly #res: ServerResponse
  readonly #socket: Socket | null
  readonly #options: SseConnectionOptions
  readonly #cleanups: Array<() => void> = []
  /** Events the socket did not take yet, in order, and their bytes. */
  #queue: Chunk[] = []
  #queuedBytes = 0
  /** Bytes of initial data not yet held against the budget (until the backlog is within it). */
  #allowance = 0
  /**
   * Of initial data written a piece at a time (`sendInitial` with `pieceBytes`), what is not
   * written yet. Until it is, a tick waits (it would fall inside an event), and anything else
   * written first completes it.
   */
  #rest: Buffer | undefined
  /** Whether a piece of that initial data is already in Node (an event is half written). */
  #pieceHanded = false
  /**
   * The rest of such an event, when it had to wait in line (first in the queue): a `SLOW_READER`
   * cut, which drops what waits, keeps it, or the error would be read as part of that event.
   */
  #continuation: Chunk | undefined
  /** Renders the tick owed to a reader whose socket was backed up when ticks went out. */
  #pendingTick: (() => Chunk) | undefined
  /** Waiting for the backlog to go out (`writable`). */
  #waiters: Array<(open: boolean) => void> = []
  #ended = false
  #released = false
  #failure: ErrorCode | undefined
  #graceTimer: NodeJS.Timeout | undefined
  readonly #done: Promise<void>
  /**
   * The backlog (`#unsent` plus `#kernelBound`) when it was last worked out, and the bytes handed
   * to Node since (framing included). Their sum bounds the backlog from above until the kernel's
   * tables are read again: what Node held then or took since is either still in Node, in the
   * kernel, or acknowledged, and the kernel's estimate only ever credits what is acknowledged.
   * So a reader well within its budget costs `send` an addition, not a look at its socket.
   */
  #backlogThen = 0
  #handedSince = 0
  /** `KernelQueues.reads` when `#backlogThen` was worked out: a later read may have found more. */
  #readsThen = 0

  /** Hijacks `reply` and sends the SSE response head. */
  constructor(reply: FastifyReply, options: SseConnectionOptions) {
    this.#options = options
    reply.hijack()
    const res = reply.raw
    this.#res = res
    this.#socket = res.socket
    let resolveDone: () => void = () => {}
    this.#done = new Promise((resolve) => (resolveDone = resolve))
    res.on('drain', () => this.#flush())
    const unwatch = this.#socket === null ? () => {} : (options.kernel?.watch(this.#socket, () => this.#kernelRead()) ?? (() => {}))
    // 'close' comes both after our own end and when the client goes away: release either way.
    res.on('close', () => {
      this.#ended = true
      this.#queue = []
      this.#queuedBytes = 0
      this.#rest = undefined
      this.#continuation = undefined
      clearTimeout(this.#graceTimer)
      unwatch()
      this.#release()
      for (const resolve of this.#waiters.splice(0)) resolve(false)
      resolveDone()
    })
    // Headers set on the reply before it was hijacked (CORS) are sent too.
    res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), ...SSE_HEADERS, ...options.headers })
    // Send the head now: a resumed reader with nothing to catch up must still see its 200.
    res.flushHeaders()
    this.#takeBacklog()
  }

  /** False once the response has ended or the client has gone. */
  get open(): boolean {
    return !this.#ended
  }

  /** The code the response was ended with by `fail`, if it was. */
  get failure(): ErrorCode | undefined {
    return this.#failure
  }

  /** Resolves when the response is closed (ended and flushed, or aborted). */
  get done(): Promise<void> {
    return this.#done
  }

  /**
   * Bytes written for this reader that it has not taken: waiting here, in Node's buffer and, at
   * most, in the kernel's (an upper bound between two reads of the kernel's tables).
   */
  get backlog(): number {
    return this.#ownBacklog() + this.#kernelBound()
  }

  /** Runs `cleanup` once when the connection ends, whoever ends it (at once if already ended). */
  onEnd(cleanup: () => void): void {
    if (this.#released) cleanup()
    else this.#cleanups.push(cleanup)
  }

  /**
   * Writes initial data (window, catch-up); it does not count against the budget until it is out.
   * With `pieceBytes`, only that much of it now: returns whether some is left, for
   * `continueInitial` to write.
   */
  sendInitial(chunk: Chunk, pieceBytes = Number.POSITIVE_INFINITY): boolean {
    if (this.#ended) return false
    this.#completeInitial()
    const size = sizeOf(chunk)
    this.#allowance += size
    if (size <= pieceBytes) {
      this.#write(chunk)
      return false
    }
    this.#rest = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
    this.#pieceHanded = false
    return this.continueInitial(pieceBytes)
  }

  /** Writes the next `pieceBytes` of the initial data `sendInitial` left; returns whether some is left still. */
  continueInitial(pieceBytes: number): boolean {
    const rest = this.#rest
    if (rest === undefined || this.#ended) return false
    const piece = rest.length > pieceBytes ? rest.subarray(0, pieceBytes) : rest
    if (this.#queue.length > 0 || !this.#room(piece.length)) {
      // The socket is backed up: all the rest waits in line, as one chunk.
      this.#completeInitial()
      return false
    }
    this.#put(piece, piece.length)
    this.#pieceHanded = true
    this.#rest = rest.length > pieceBytes ? rest.subarray(pieceBytes) : undefined
    if (this.#rest !== undefined) return true
    // Whole again: a tick owed meanwhile goes out now, if the socket has room.
    this.#flush()
    return false
  }

  /**
   * Writes a live event, or cuts the reader with `SLOW_READER` when it would exceed its budget.
   * Returns whether the reader is still connected.
   */
  send(chunk: Chunk, size = sizeOf(chunk)): boolean {
    if (this.#ended) return false
    this.#completeInitial()
    if (
      this.#queue.length === 0 &&
      this.#backlogThen + this.#handedSince + size + CHUNK_FRAMING <= this.#options.maxBufferedBytes / 2 &&
      this.#readsThen === (this.#options.kernel?.reads ?? 0) &&
      !this.#res.writableNeedDrain
    ) {
      // Within half the budget whatever the socket has done since: as `#over` and `#room` would
      // find (no read of the kernel's tables is needed below half), without asking the socket.
      this.#allowance = 0
      this.#put(chunk, size)
      return true
    }
    if (this.#over(size)) {
      this.fail(ErrorCode.SLOW_READER, 'the reader fell too far behind; reconnect and resume from the last id')
      return false
    }
    this.#write(chunk)
    // Worked out afresh here, so that the next event may take the short way again.
    this.#takeBacklog()
    return true
  }

  /**
   * Writes a tick now; if the socket is backed up, owes the reader one tick (`render`ed when it
   * drains) instead — ticks coalesce and never wait in line or count against the budget.
   */
  tick(chunk: Chunk, render: () => Chunk): void {
    if (this.#ended) return
    if (this.#queue.length > 0 || this.#rest !== undefined || this.#res.writableNeedDrain) this.#pendingTick = render
    else this.#put(chunk, sizeOf(chunk))
  }

  /** Resolves true once the socket has taken every event (at once if it has), false if the reader left. */
  writable(): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false)
    if (this.#queue.length === 0 && !this.#res.writableNeedDrain) return Promise.resolve(true)
    return new Promise((resolve) => this.#waiters.push(resolve))
  }

  /**
   * Ends the response with an `event: error` (the last event the reader sees), if errors are
   * in-band. For `SLOW_READER` the events still waiting are dropped first, so that the error is
   * right behind what the socket already holds: a client that reads again finds it.
   */
  fail(code: ErrorCode, message: string): void {
    if (this.#ended) return
    // An event half written is finished first, or the error would be read as part of it.
    this.#completeInitial()
    this.#failure = code
    this.#pendingTick = undefined
    const slow = code === ErrorCode.SLOW_READER
    if (slow) {
      const keep = this.#continuation
      this.#queue = keep === undefined ? [] : [keep]
      this.#queuedBytes = keep === undefined ? 0 : sizeOf(keep)
    }
    if (this.#options.errorEvents) this.#write(errorEvent(code, message))
    this.#finish(slow ? this.#options.slowReaderGraceMs : this.#options.closeGraceMs)
  }

  /** Ends the response after the events waiting; a reader that does not take them within the grace period is cut. */
  end(): void {
    this.#finish(this.#options.closeGraceMs)
  }

  #finish(graceMs: number): void {
    if (this.#ended) return
    this.#completeInitial()
    this.#ended = true
    this.#release()
    // What waits here goes into Node's buffer now: the response has nothing after it.
    for (const chunk of this.#queue.splice(0)) this.#put(chunk, sizeOf(chunk))
    this.#queuedBytes = 0
    this.#res.end()
    for (const resolve of this.#waiters.splice(0)) resolve(false)
    this.#graceTimer = setTimeout(() => this.#res.destroy(), graceMs)
    this.#graceTimer.unref()
  }

  /** To the socket when it has room, else in line. */
  #write(chunk: Chunk): void {
    const size = sizeOf(chunk)
    if (this.#queue.length === 0 && this.#room(size)) {
      this.#put(chunk, size)
      return
    }
    this.#queue.push(chunk)
    this.#queuedBytes += size
  }

  /**
   * Whether `size` more bytes may go to the socket: Node's buffer takes more, and the kernel's
   * share could not pass the budget (its bound stays within it). When the bound is what stops
   * them, or is halfway there, a read of the kernel's tables is asked for (it calls back).
   */
  #room(size: number): boolean {
    if (this.#res.writableNeedDrain) return false
    const limit = this.#options.maxBufferedBytes + this.#allowance
    const bound = this.#kernelBound() + this.#unsent() + size
    if (bound > limit / 2) this.#options.kernel?.request()
    return bound <= limit
  }

  /** The socket drained, or the kernel's tables were read: hands it what waits, as far as it has room, then an owed tick. */
  #flush(): void {
    if (this.#ended) return
    while (this.#queue.length > 0 && this.#room(sizeOf(this.#queue[0] as Chunk))) {
      const chunk = this.#queue.shift() as Chunk
      if (chunk === this.#continuation) this.#continuation = undefined
      const size = sizeOf(chunk)
      this.#queuedBytes -= size
      this.#put(chunk, size)
    }
    if (this.#queue.length > 0 || this.#rest !== undefined || this.#res.writableNeedDrain) return
    const tick = this.#pendingTick
    this.#pendingTick = undefined
    // Rendered now, not when it was missed: a clock must not claim less than was sent since.
    if (tick !== undefined) {
      const chunk = tick()
      this.#put(chunk, sizeOf(chunk))
    }
    for (const resolve of this.#waiters.splice(0)) resolve(true)
  }

  /**
   * True when `size` more bytes would take the reader past its budget (and the initial
   * allowance): what waits for it here and in Node's buffer, known exactly, plus the kernel's
   * share — its bound when that is within, else what the kernel had held for over `IN_FLIGHT_MS`
   * at its last read, if that read is recent; if not, a read is asked for and the reader judged
   * when it comes (`#kernelRead`). Events that wait here only for that read, while the socket would
   * take them, count once the kernel shows the reader holding bytes (a reader that keeps up must not
   * be cut because the tables are slow to read), or when they pass `QUEUE_BUDGETS` budgets.
   */
  #over(size: number): boolean {
    const budget = this.#options.maxBufferedBytes
    if (this.#queuedBytes + size > QUEUE_BUDGETS * (budget + this.#allowance)) return true
    const socket = this.#socket
    const kernel = socket === null ? undefined : this.#options.kernel
    const held = socket === null || kernel === undefined ? undefined : kernel.held(socket)
    const counted = this.#res.writableNeedDrain || kernel === undefined || (held !== undefined && held.fresh && held.bytes > 0)
    const unsent = this.#unsent()
    const own = unsent + (counted ? this.#queuedBytes : 0)
    const bound = this.#kernelBound()
    // Back within the budget, what is in flight and all that waits here included: the initial data
    // is as good as taken (until then some of it may wait here, or be still to write: `#rest`).
    if (unsent + this.#queuedBytes + (this.#rest?.length ?? 0) + bound <= budget) this.#allowance = 0
    if (own + bound + size <= budget + this.#allowance) return false
    if (own + size > budget + this.#allowance) return true
    if (kernel === undefined || held === undefined) return false
    if (!held.fresh) {
      kernel.request()
      return false
    }
    return own + held.bytes + size > budget + this.#allowance
  }

  /**
   * The kernel's tables were read: cuts the reader if what waits for it cannot go out within its
   * budget, else hands the socket what it now has room for.
   */
  #kernelRead(): void {
    if (this.#ended) return
    this.#takeBacklog()
    const next = this.#queue[0]
    if (this.#over(next === undefined ? 0 : sizeOf(next))) this.fail(ErrorCode.SLOW_READER, 'the reader fell too far behind; reconnect and resume from the last id')
    else this.#flush()
  }

  /** Writes what is left of initial data written a piece at a time, all of it. */
  #completeInitial(): void {
    const rest = this.#rest
    if (rest === undefined) return
    this.#rest = undefined
    if (this.#queue.length === 0 && this.#room(rest.length)) return this.#put(rest, rest.length)
    this.#queue.push(rest)
    this.#queuedBytes += rest.length
    if (this.#pieceHanded) this.#continuation = rest
  }

  /** Hands `chunk` (of `size` bytes) to Node. */
  #put(chunk: Chunk, size: number): void {
    this.#handedSince += size + CHUNK_FRAMING
    this.#res.write(chunk)
  }

  /** Works the backlog out afresh: the base of `send`'s bound (`#backlogThen`). */
  #takeBacklog(): void {
    this.#backlogThen = this.#unsent() + this.#kernelBound()
    this.#handedSince = 0
    this.#readsThen = this.#options.kernel?.reads ?? 0
  }

  #ownBacklog(): number {
    return this.#queuedBytes + this.#unsent()
  }

  /**
   * Bytes handed to Node for this reader that are not yet in the kernel: its buffer, less what a
   * large write under way has already passed on (that part is the kernel's share, `#kernelBound`).
   */
  #unsent(): number {
    return this.#res.writableLength - (this.#socket === null ? 0 : inKernelOfWrite(this.#socket))
  }

  #kernelBound(): number {
    return this.#socket === null ? 0 : (this.#options.kernel?.queued(this.#socket) ?? 0)
  }

  #release(): void {
    if (this.#released) return
    this.#released = true
    for (const cleanup of this.#cleanups.splice(0)) {
      try {
        cleanup()
      } catch {
        // One failing cleanup must not keep the others from running.
      }
    }
  }
}
