/**
 * One server-sent-events response: the hijacked reply, a bounded buffer, and an orderly end.
 *
 * Appends never wait for readers, so a reader that does not keep up must not hold the server's
 * memory hostage. Every event goes straight to the socket; what the socket has not taken yet sits
 * in Node's buffer (`res.writableLength`). Once that passes `maxBufferedBytes` the reader is told
 * `SLOW_READER` in-band and cut: it resumes from its last id and loses nothing. Initial data (a
 * window, a catch-up page) is granted on top of the budget until the socket drains once, so a
 * large first answer does not count as falling behind.
 *
 * Ticks (heartbeats, clocks) are different: they carry no data, so a backed-up reader gets one
 * tick, rendered afresh, once its socket drains, and a tick never pushes a reader over its budget.
 */
import type { ServerResponse } from 'node:http'
import { ErrorCode } from '@statestream/common'
import type { FastifyReply } from 'fastify'
import { errorEvent } from './live-events.ts'

/** Tunables of one connection. */
export interface SseConnectionOptions {
  /** Most bytes buffered for a reader before it is cut with `SLOW_READER`. */
  maxBufferedBytes: number
  /** How long an ended response may take to flush before its socket is destroyed, in ms. */
  closeGraceMs: number
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

function sizeOf(chunk: Chunk): number {
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.length
}

export class SseConnection {
  readonly #res: ServerResponse
  readonly #options: SseConnectionOptions
  readonly #cleanups: Array<() => void> = []
  /** Bytes of initial data not yet held against the budget (until the next drain). */
  #allowance = 0
  /** Renders the tick owed to a reader whose socket was backed up when ticks went out. */
  #pendingTick: (() => Chunk) | undefined
  #ended = false
  #released = false
  #failure: ErrorCode | undefined
  #graceTimer: NodeJS.Timeout | undefined
  readonly #done: Promise<void>

  /** Hijacks `reply` and sends the SSE response head. */
  constructor(reply: FastifyReply, options: SseConnectionOptions) {
    this.#options = options
    reply.hijack()
    const res = reply.raw
    this.#res = res
    let resolveDone: () => void = () => {}
    this.#done = new Promise((resolve) => (resolveDone = resolve))
    res.on('drain', () => {
      this.#allowance = 0
      const tick = this.#pendingTick
      this.#pendingTick = undefined
      // Rendered now, not when it was missed: a clock must not claim less than was sent since.
      if (tick !== undefined && !this.#ended) res.write(tick())
    })
    // 'close' comes both after our own end and when the client goes away: release either way.
    res.on('close', () => {
      this.#ended = true
      clearTimeout(this.#graceTimer)
      this.#release()
      resolveDone()
    })
    // Headers set on the reply before it was hijacked (CORS) are sent too.
    res.writeHead(200, { ...(reply.getHeaders() as Record<string, string>), ...SSE_HEADERS, ...options.headers })
    // Send the head now: a resumed reader with nothing to catch up must still see its 200.
    res.flushHeaders()
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

  /** Runs `cleanup` once when the connection ends, whoever ends it (at once if already ended). */
  onEnd(cleanup: () => void): void {
    if (this.#released) cleanup()
    else this.#cleanups.push(cleanup)
  }

  /** Writes initial data (window, catch-up); it does not count against the budget until drained. */
  sendInitial(chunk: Chunk): void {
    if (this.#ended) return
    this.#allowance += sizeOf(chunk)
    this.#res.write(chunk)
  }

  /**
   * Writes a live event, or cuts the reader with `SLOW_READER` when it would exceed its budget.
   * Returns whether the reader is still connected.
   */
  send(chunk: Chunk, size = sizeOf(chunk)): boolean {
    if (this.#ended) return false
    // Below the high-water mark the initial data is as good as sent: its allowance is spent.
    if (!this.#res.writableNeedDrain) this.#allowance = 0
    if (this.#res.writableLength + size > this.#options.maxBufferedBytes + this.#allowance) {
      this.fail(ErrorCode.SLOW_READER, 'the reader fell too far behind; reconnect and resume from the last id')
      return false
    }
    this.#res.write(chunk)
    return true
  }

  /**
   * Writes a tick now; if the socket is backed up, owes the reader one tick (`render`ed when it
   * drains) instead — ticks coalesce and never wait in line or count against the budget.
   */
  tick(chunk: Chunk, render: () => Chunk): void {
    if (this.#ended) return
    if (this.#res.writableNeedDrain) this.#pendingTick = render
    else this.#res.write(chunk)
  }

  /** Resolves true when the socket can take more (at once if it can), false if the reader left. */
  writable(): Promise<boolean> {
    if (this.#ended) return Promise.resolve(false)
    if (!this.#res.writableNeedDrain) return Promise.resolve(true)
    return new Promise((resolve) => {
      const settle = (): void => {
        this.#res.off('drain', settle)
        this.#res.off('close', settle)
        resolve(!this.#ended)
      }
      this.#res.on('drain', settle)
      this.#res.on('close', settle)
    })
  }

  /** Ends the response with an `event: error` (the last event the reader sees), if errors are in-band. */
  fail(code: ErrorCode, message: string): void {
    if (this.#ended) return
    this.#failure = code
    this.#pendingTick = undefined
    if (this.#options.errorEvents) this.#res.write(errorEvent(code, message))
    this.end()
  }

  /** Ends the response; a reader that does not take the rest within the grace period is cut. */
  end(): void {
    if (this.#ended) return
    this.#ended = true
    this.#release()
    this.#res.end()
    this.#graceTimer = setTimeout(() => this.#res.destroy(), this.#options.closeGraceMs)
    this.#graceTimer.unref()
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
