/**
 * A small server-sent-events reader for tests: opens a real HTTP request with undici, parses the
 * `text/event-stream` body as it arrives, and lets a test wait for events with generous timeouts.
 * It reads nothing unless told to (`paused`), so a test can also play a reader that never reads.
 */
import { request } from 'undici'
import type { Dispatcher } from 'undici'

/** One parsed event: its name (`message` when unnamed), data and id (the last one seen). */
export interface SseEvent {
  event: string
  data: string
  id: string | undefined
  /** `performance.now()` when the event was parsed (for latency measurements). */
  at: number
}

export interface SseOpenOptions {
  headers?: Record<string, string>
  dispatcher?: Dispatcher
  /** Do not consume the body: the socket backs up like a reader that never reads. */
  paused?: boolean
}

/** How long `next`/`waitFor` wait by default, in ms: generous, for slow and busy machines. */
export const SSE_WAIT_MS = 20_000

export class SseReader {
  readonly status: number
  readonly headers: Record<string, string | string[] | undefined>
  /** Every event received so far, in order. */
  readonly events: SseEvent[] = []
  /** Resolves when the body ends; `error` says how (undefined: a clean end). */
  readonly ended: Promise<{ error: unknown }>
  #body: Dispatcher.ResponseData['body']
  #cursor = 0
  #buffer = ''
  #lastId: string | undefined
  #wake: Array<() => void> = []
  #done = false
  #started = false
  #resolveEnded: (value: { error: unknown }) => void = () => {}

  private constructor(response: Dispatcher.ResponseData) {
    this.status = response.statusCode
    this.headers = response.headers
    this.#body = response.body
    this.ended = new Promise((resolve) => (this.#resolveEnded = resolve))
  }

  /** Opens `url`; the body is read right away unless `paused`. */
  static async open(url: string, options: SseOpenOptions = {}): Promise<SseReader> {
    const response = await request(url, {
      headers: { accept: 'text/event-stream', ...options.headers },
      ...(options.dispatcher && { dispatcher: options.dispatcher }),
    })
    const reader = new SseReader(response)
    if (!options.paused) reader.resume()
    return reader
  }

  /** The body text of a non-SSE answer (an error). */
  async text(): Promise<string> {
    return this.#body.text()
  }

  /** Starts (or continues) consuming the body. */
  resume(): void {
    if (this.#started) return
    this.#started = true
    const body = this.#body
    body.setEncoding('utf8')
    body.on('data', (chunk: string) => this.#feed(chunk))
    body.on('end', () => this.#finish(undefined))
    body.on('error', (error) => this.#finish(error))
    body.on('close', () => this.#finish(undefined))
  }

  /** True once the body has ended or failed. */
  get done(): boolean {
    return this.#done
  }

  /** The id of the last event received (what an EventSource would send as Last-Event-ID). */
  get lastId(): string | undefined {
    return this.#lastId
  }

  /** Events not yet taken by `next`/`waitFor`. */
  get pending(): SseEvent[] {
    return this.events.slice(this.#cursor)
  }

  /** The next event not yet taken; rejects on timeout or when the body ends first. */
  async next(timeoutMs = SSE_WAIT_MS): Promise<SseEvent> {
    return this.waitFor(() => true, timeoutMs)
  }

  /** Takes events up to and including the first that matches `predicate`. */
  async waitFor(predicate: (event: SseEvent) => boolean, timeoutMs = SSE_WAIT_MS): Promise<SseEvent> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      while (this.#cursor < this.events.length) {
        const event = this.events[this.#cursor++] as SseEvent
        if (predicate(event)) return event
      }
      if (this.#done) throw new Error(`the SSE body ended before the awaited event (${this.events.length} events)`)
      const left = deadline - performance.now()
      if (left <= 0) throw new Error(`timed out waiting for an SSE event (${this.events.length} events so far)`)
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left)
        this.#wake.push(() => {
          clearTimeout(timer)
          resolve()
        })
      })
    }
  }

  /** Waits until the body ends; resolves with how it ended. */
  async waitEnd(timeoutMs = SSE_WAIT_MS): Promise<{ error: unknown }> {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out waiting for the SSE body to end')), timeoutMs)
    })
    try {
      return await Promise.race([this.ended, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Drops the connection (a client going away). */
  close(): void {
    this.#body.destroy()
    this.#finish(undefined)
  }

  #feed(chunk: string): void {
    this.#buffer += chunk
    // Events end with a blank line; line ends may be \n, \r\n or \r.
    for (;;) {
      const match = /\r\n\r\n|\n\n|\r\r/.exec(this.#buffer)
      if (match === null) break
      const block = this.#buffer.slice(0, match.index)
      this.#buffer = this.#buffer.slice(match.index + match[0].length)
      this.#parse(block)
    }
    for (const wake of this.#wake.splice(0)) wake()
  }

  #parse(block: string): void {
    let event = 'message'
    const data: string[] = []
    let sawData = false
    for (const line of block.split(/\r\n|\r|\n/)) {
      if (line === '' || line.startsWith(':')) continue
      const colon = line.indexOf(':')
      const field = colon === -1 ? line : line.slice(0, colon)
      let value = colon === -1 ? '' : line.slice(colon + 1)
      if (value.startsWith(' ')) value = value.slice(1)
      if (field === 'event') event = value
      else if (field === 'data') {
        data.push(value)
        sawData = true
      } else if (field === 'id') this.#lastId = value
    }
    if (!sawData) return
    this.events.push({ event, data: data.join('\n'), id: this.#lastId, at: performance.now() })
  }

  #finish(error: unknown): void {
    if (this.#done) return
    this.#done = true
    this.#resolveEnded({ error })
    for (const wake of this.#wake.splice(0)) wake()
  }
}
