/**
 * The one place the client talks HTTP: `fetch` (undici's in Node, with its dispatcher; the
 * browser's own otherwise), the headers of every request (values or a function read each time,
 * plus what `onError` returned), the trace of every request, and answers turned into errors.
 * Every response body is read to its end or cancelled before a call returns.
 *
 * A request that goes silent — no answer, or a pause in its body — for `stallMs` is presumed dead
 * (a connection dropped without a word from the network): it is aborted and fails as `NETWORK`,
 * which the callers retry like any dropped connection. Live tails have a watchdog of their own and
 * opt out (`stallMs: 0`).
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import { errorOf, isStateStreamError, toNetworkError } from './answer-errors.ts'

/** The `fetch` the client sends its requests with (any `fetch` will do: its `Response` is a `FetchResponse`). */
export type FetchLike = (input: string, init: RequestInit) => Promise<FetchResponse>

/** What the client reads of an answer: the part of a fetch `Response` it uses. */
export interface FetchResponse {
  readonly ok: boolean
  readonly status: number
  readonly headers: { get(name: string): string | null; forEach(visit: (value: string, key: string) => void): void }
  readonly body: { getReader(): BodyReader } | null
  text(): Promise<string>
  arrayBuffer(): Promise<ArrayBuffer>
}

/** A body's reader, as a `ReadableStream`'s default reader reads bytes. */
export interface BodyReader {
  read(): Promise<{ done: true; value?: Uint8Array | undefined } | { done: false; value: Uint8Array }>
  cancel(): Promise<void>
  releaseLock(): void
}

/** Request headers: fixed values, or a function (possibly async) read before every request. */
export type HeadersOption = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)

/**
 * Told of an error about to reach the caller. Returning headers (an object, possibly empty)
 * retries with them, on top of `headers`, for this and every later request (a refreshed token);
 * returning nothing lets the error through.
 */
export type ErrorHandler = (err: StateStreamError) => void | Record<string, string> | Promise<void | Record<string, string>>

/** Something the client reports about its own work, for logging, demos and tests. */
export type TraceEvent =
  /** A request was sent (`url` is the path and query). */
  | { type: 'request'; method: string; url: string }
  /** Entries arrived for `stream`, from a window fetch or a live tail. */
  | { type: 'entries'; stream: string; source: 'window' | 'live'; count: number; first: number; last: number }
  /** A held window changed status (`removed` when dropped). */
  | { type: 'window'; stream: string; status: string; start: number | null; end: number | null }
  /** The live tail of `stream` (or of a multi-stream connection) changed status. */
  | { type: 'status'; stream: string; status: string }

/** Options of one request. */
export interface RequestOptions {
  method?: string
  headers?: Record<string, string>
  /** Text, or bytes (the body of a plain stream's append). */
  body?: string | Uint8Array
  signal?: AbortSignal | undefined
  /** Silence after which this request is presumed dead, ms (0: never); the transport's by default. */
  stallMs?: number
}

/** A JSON answer, with the headers a caller may need. */
export interface JsonResponse<T> {
  status: number
  headers: Record<string, string>
  body: T
  /** Length of the body text in UTF-16 code units (a close estimate of its bytes). */
  size: number
}

/** Options of a `Transport`. */
export interface TransportOptions {
  baseUrl: string
  fetch: FetchLike
  headers?: HeadersOption | undefined
  onError?: ErrorHandler | undefined
  trace?: ((event: TraceEvent) => void) | undefined
  /** Silence after which a request is presumed dead, ms (0: never). Default `DEFAULT_STALL_MS`. */
  stallMs?: number | undefined
}

/** Default silence after which a request (not a live tail) is presumed dead: 30 s. */
export const DEFAULT_STALL_MS = 30_000

/** How many times in a row one call may be retried on `onError`'s word before its error goes through. */
export const MAX_RECOVERIES = 3

export class Transport {
  readonly #base: string
  readonly #fetch: FetchLike
  readonly #headers: HeadersOption | undefined
  readonly #onError: ErrorHandler | undefined
  readonly #trace: ((event: TraceEvent) => void) | undefined
  readonly #stallMs: number
  /** Headers `onError` returned, sent on top of `#headers` from then on. */
  #recovered: Record<string, string> = {}
  #closed = false

  constructor(options: TransportOptions) {
    const base = new URL(options.baseUrl)
    // Keep a base path such as `http://host/prefix` in front of the routes.
    this.#base = `${base.origin}${base.pathname.replace(/\/$/, '')}`
    this.#fetch = options.fetch
    this.#headers = options.headers
    this.#onError = options.onError
    this.#trace = options.trace
    this.#stallMs = options.stallMs ?? DEFAULT_STALL_MS
  }

  /** The base URL's path (`/prefix` of `http://host/prefix`, or ''): the routes' absolute paths on the server start with it. */
  get basePath(): string {
    return new URL(this.#base).pathname.replace(/\/$/, '')
  }

  /**
   * From now on every request is refused, and every request in flight that fails (its
   * dispatcher closing under it) fails, with `CLOSED`: a call that was running when its client
   * closed is told so, never retried into a network failure.
   */
  close(): void {
    this.#closed = true
  }

  /** `CLOSED` once `close()` was called: what a failed request throws then. */
  get closedError(): StateStreamError | undefined {
    return this.#closed ? new StateStreamError(ErrorCode.CLOSED, 'the client was closed') : undefined
  }

  /** Reports `event` to the trace hook, if there is one. */
  trace(event: TraceEvent): void {
    this.#trace?.(event)
  }

  /** Reports entries that arrived for `stream` (none: nothing to report). */
  traceEntries(stream: string, source: 'window' | 'live', entries: ReadonlyArray<{ seq: number }>): void {
    const first = entries[0]
    const last = entries[entries.length - 1]
    if (this.#trace === undefined || first === undefined || last === undefined) return
    this.#trace({ type: 'entries', stream, source, count: entries.length, first: first.seq, last: last.seq })
  }

  /**
   * Sends a request; resolves with a 2xx response whose body the caller must read or cancel.
   * Any other answer is read and thrown as its error; a failure to get one is `NETWORK`; an
   * abort of `signal` rejects with its reason.
   */
  async send(path: string, options: RequestOptions = {}): Promise<FetchResponse> {
    const method = options.method ?? 'GET'
    if (this.#closed) throw this.closedError
    this.#trace?.({ type: 'request', method, url: path })
    const base = typeof this.#headers === 'function' ? await this.#headers() : this.#headers
    const headers = { ...lowerKeys(base ?? {}), ...this.#recovered, ...lowerKeys(options.headers ?? {}) }
    const signal = options.signal
    if (signal?.aborted) throw signal.reason
    const stallMs = options.stallMs ?? this.#stallMs
    const stall = stallMs > 0 ? new StallTimer(stallMs, signal) : undefined
    const sent = stall?.signal ?? signal
    let response: FetchResponse
    try {
      response = await this.#fetch(`${this.#base}${path}`, {
        method,
        headers,
        ...(options.body !== undefined && { body: options.body }),
        ...(sent !== undefined && { signal: sent }),
      })
    } catch (err) {
      stall?.stop()
      if (signal?.aborted) throw signal.reason
      throw this.closedError ?? stall?.error ?? toNetworkError(err)
    }
    if (response.ok) return stall === undefined ? response : new WatchedResponse(response, stall)
    let text = ''
    try {
      text = await response.text()
    } catch {
      if (signal?.aborted) throw signal.reason
    } finally {
      stall?.stop()
    }
    throw errorOf(response.status, text, flatten(response.headers))
  }

  /** Sends a request and parses its JSON answer (an empty body is `undefined`). */
  async json<T>(path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    const response = await this.send(path, options)
    let text: string
    try {
      text = await response.text()
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason
      throw this.closedError ?? toNetworkError(err)
    }
    const body = (text === '' ? undefined : JSON.parse(text)) as T
    return { status: response.status, headers: flatten(response.headers), body, size: text.length }
  }

  /**
   * Asks `onError` whether `err`, about to reach the caller, should be retried with new headers:
   * true when it returned some (kept for every later request). `recoveries`: how many times this
   * call was retried so already.
   */
  async recover(err: unknown, recoveries: number): Promise<boolean> {
    if (this.#onError === undefined || recoveries >= MAX_RECOVERIES || !isStateStreamError(err) || err.code === ErrorCode.CLOSED) return false
    const headers = await this.#onError(err)
    if (headers === undefined || headers === null || typeof headers !== 'object') return false
    this.#recovered = { ...this.#recovered, ...lowerKeys(headers) }
    return true
  }
}

/** A response's headers as a plain object with lower-case names. */
export function flatten(headers: FetchResponse['headers']): Record<string, string> {
  const out: Record<string, string> = {}
  headers.forEach((value, key) => {
    out[key.toLowerCase()] = value
  })
  return out
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = value
  return out
}


/**
 * Aborts its request after `ms` without progress (`touch`), and forwards an abort of the caller's
 * `signal`. Told apart by `error`: set only when the silence did it.
 */
class StallTimer {
  readonly #ms: number
  readonly #controller = new AbortController()
  readonly #caller: AbortSignal | undefined
  readonly #onAbort = (): void => {
    this.stop()
    this.#controller.abort(this.#caller?.reason)
  }
  #timer: ReturnType<typeof setTimeout> | undefined
  error: StateStreamError | undefined

  constructor(ms: number, caller: AbortSignal | undefined) {
    this.#ms = ms
    this.#caller = caller
    caller?.addEventListener('abort', this.#onAbort, { once: true })
    this.touch()
  }

  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** Progress: the silence counts again from now. */
  touch(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = undefined
      this.error = new StateStreamError(ErrorCode.NETWORK, `network failure: no answer for ${this.#ms} ms`)
      this.#caller?.removeEventListener('abort', this.#onAbort)
      this.#controller.abort(this.error)
    }, this.#ms)
    // The request's socket keeps a process alive while it is under way, not this timer.
    if (typeof this.#timer === 'object' && 'unref' in this.#timer) this.#timer.unref()
  }

  /** The request is over: no more timing. */
  stop(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    this.#timer = undefined
    this.#caller?.removeEventListener('abort', this.#onAbort)
  }
}

/** A response whose body, as it is read, keeps its request's `StallTimer` from firing; reading it to the end, or failing, stops it. */
class WatchedResponse implements FetchResponse {
  readonly #response: FetchResponse
  readonly #stall: StallTimer

  constructor(response: FetchResponse, stall: StallTimer) {
    this.#response = response
    this.#stall = stall
  }

  get ok(): boolean {
    return this.#response.ok
  }

  get status(): number {
    return this.#response.status
  }

  get headers(): FetchResponse['headers'] {
    return this.#response.headers
  }

  get body(): { getReader(): BodyReader } | null {
    const body = this.#response.body
    if (body === null) {
      this.#stall.stop()
      return null
    }
    const stall = this.#stall
    return {
      getReader: () => {
        const reader = body.getReader()
        return {
          read: async () => {
            try {
              const next = await reader.read()
              if (next.done) stall.stop()
              else stall.touch()
              return next
            } catch (err) {
              stall.stop()
              throw stall.error ?? err
            }
          },
          cancel: () => {
            stall.stop()
            return reader.cancel()
          },
          releaseLock: () => reader.releaseLock(),
        }
      },
    }
  }

  // Read whole: the silence counts from the answer's head to the body's end.
  text(): Promise<string> {
    return this.#whole(this.#response.text())
  }

  arrayBuffer(): Promise<ArrayBuffer> {
    return this.#whole(this.#response.arrayBuffer())
  }

  async #whole<T>(read: Promise<T>): Promise<T> {
    try {
      return await read
    } catch (err) {
      throw this.#stall.error ?? err
    } finally {
      this.#stall.stop()
    }
  }
}
