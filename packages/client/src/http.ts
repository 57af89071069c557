/**
 * The one place the client talks HTTP: undici `request` on an injectable dispatcher, JSON in and
 * out, wire errors turned into `StateStreamError`s with their codes, network failures into
 * `NETWORK`. Every response body is either read to the end or destroyed before a call returns,
 * so no socket is ever left waiting on an unread body.
 */
import { ERROR_STATUS, ErrorCode, HEADERS, StateStreamError, isErrorBody } from '@statestream/common'
import { request } from 'undici'
import type { Dispatcher } from 'undici'

/** Something the client reports about its own work, for logging, demos and tests. */
export type TraceEvent =
  /** A request was sent (`url` is the path and query). */
  | { type: 'request'; method: string; url: string }
  /** Entries arrived for `stream`, from a window fetch or a live tail. */
  | { type: 'entries'; stream: string; source: 'window' | 'live'; count: number; first: number; last: number }
  /** A held window changed state. */
  | { type: 'window'; stream: string; status: string; start: number | null; end: number | null }
  /** The live tail of `stream` (or of a multi-stream connection) changed status. */
  | { type: 'status'; stream: string; status: string }

/** A JSON answer, with the headers a caller may need. */
export interface JsonResponse<T> {
  status: number
  headers: Record<string, string>
  body: T
  /** Length of the body text in UTF-16 code units (a close estimate of its bytes). */
  size: number
}

/** Options of one request. */
export interface RequestOptions {
  method?: Dispatcher.HttpMethod
  headers?: Record<string, string>
  body?: string
  signal?: AbortSignal
}

/** Request headers: fixed values, or a function (possibly async) read before every request. */
export type HeadersOption = Record<string, string> | (() => Record<string, string> | Promise<Record<string, string>>)

/**
 * Told of an error before it reaches the caller. Returning headers (an object, possibly empty)
 * retries with them, on top of `headers`, for this and every later request (a refreshed token);
 * returning nothing lets the error through.
 */
export type ErrorHandler = (err: StateStreamError) => void | Record<string, string> | Promise<void | Record<string, string>>

/** How many times in a row one call may be retried on `onError`'s word before its error goes through. */
const RECOVERIES = 3

/** The HTTP layer shared by every part of a client. */
export class HttpClient {
  readonly #base: URL
  readonly #dispatcher: Dispatcher
  readonly #trace: ((event: TraceEvent) => void) | undefined
  readonly #headers: HeadersOption | undefined
  readonly #onError: ErrorHandler | undefined
  /** Headers `onError` returned, sent on top of `#headers` from then on. */
  #recovered: Record<string, string> = {}

  constructor(
    baseUrl: string,
    dispatcher: Dispatcher,
    options: { trace?: ((event: TraceEvent) => void) | undefined; headers?: HeadersOption | undefined; onError?: ErrorHandler | undefined } = {},
  ) {
    this.#base = new URL(baseUrl)
    this.#dispatcher = dispatcher
    this.#trace = options.trace
    this.#headers = options.headers
    this.#onError = options.onError
  }

  /**
   * Asks `onError` whether `err` should be retried with new headers: true when it returned some
   * (they are kept for every later request). `recoveries` is how many times this call was
   * retried so already.
   */
  async recover(err: unknown, recoveries = 0): Promise<boolean> {
    if (this.#onError === undefined || recoveries >= RECOVERIES || !isStateStreamError(err)) return false
    // Transient failures are retried by backoff; a closed client or an aborted call is final.
    if (isRetryable(err) || err.code === ErrorCode.CLOSED) return false
    const headers = await this.#onError(err)
    if (headers === undefined || headers === null || typeof headers !== 'object') return false
    this.#recovered = { ...this.#recovered, ...lowerKeys(headers) }
    return true
  }

  /** Runs `call`, retrying it while `onError` returns new headers for its failure. */
  async withRecovery<T>(call: () => Promise<T>): Promise<T> {
    for (let recoveries = 0; ; recoveries++) {
      try {
        return await call()
      } catch (err) {
        if (!(await this.recover(err, recoveries))) throw err
      }
    }
  }

  /** Reports `event` to the trace hook, if there is one. */
  trace(event: TraceEvent): void {
    this.#trace?.(event)
  }

  /** The absolute URL of `path` (which starts with `/`) under the base URL. */
  url(path: string): string {
    // Keep a base path such as `http://host/prefix` in front of the route.
    const base = this.#base.pathname.replace(/\/$/, '')
    return `${this.#base.origin}${base}${path}`
  }

  /** Sends a request and parses a JSON answer; non-2xx answers throw their wire error (after `onError`). */
  json<T>(path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
    return this.withRecovery(() => this.#json<T>(path, options))
  }

  async #json<T>(path: string, options: RequestOptions): Promise<JsonResponse<T>> {
    const response = await this.send(path, options)
    try {
      const text = await response.body.text()
      if (response.statusCode >= 400) throw errorOf(response.statusCode, text, response.headers)
      const body = (text === '' ? undefined : JSON.parse(text)) as T
      return { status: response.statusCode, headers: flatten(response.headers), body, size: text.length }
    } catch (err) {
      response.body.destroy()
      throw toNetworkError(err)
    }
  }

  /**
   * Sends a request and returns the raw response for the caller to stream (the live tail). The
   * caller must consume or destroy its body. Non-2xx answers are read and thrown here.
   */
  stream(path: string, options: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
    return this.withRecovery(() => this.#stream(path, options))
  }

  async #stream(path: string, options: RequestOptions): Promise<Dispatcher.ResponseData> {
    const response = await this.send(path, { ...options }, 0)
    if (response.statusCode >= 400) {
      const text = await response.body.text().catch(() => '')
      throw errorOf(response.statusCode, text, response.headers)
    }
    return response
  }

  /** One undici request; network failures become `NETWORK` errors. */
  async send(path: string, options: RequestOptions, bodyTimeout?: number): Promise<Dispatcher.ResponseData> {
    const method = options.method ?? 'GET'
    this.#trace?.({ type: 'request', method, url: path })
    const base = typeof this.#headers === 'function' ? await this.#headers() : this.#headers
    const headers = { ...lowerKeys(base ?? {}), ...this.#recovered, ...lowerKeys(options.headers ?? {}) }
    try {
      return await request(this.url(path), {
        dispatcher: this.#dispatcher,
        method,
        headers,
        ...(options.body !== undefined && { body: options.body }),
        ...(options.signal !== undefined && { signal: options.signal }),
        // The live tail has its own watchdog; undici's body timeout would only cut it early.
        ...(bodyTimeout !== undefined && { bodyTimeout }),
      })
    } catch (err) {
      throw toNetworkError(err)
    }
  }
}

/** Statuses worth retrying whoever sent them: a timeout, a rate limit, and every server failure. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500
}

/** True for errors worth retrying: network failures and the server's (or a proxy's) "try again" answers. */
export function isRetryable(err: unknown): boolean {
  const { code, status } = err as { code?: unknown; status?: unknown }
  if (typeof status === 'number') return retryableStatus(status)
  return code === ErrorCode.NETWORK || code === ErrorCode.SHUTTING_DOWN || code === ErrorCode.SLOW_READER || code === ErrorCode.INTERNAL
}

function isStateStreamError(err: unknown): err is StateStreamError {
  return err instanceof Error && err.name === 'StateStreamError' && typeof (err as { code?: unknown }).code === 'string'
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) out[key.toLowerCase()] = value
  return out
}

/** The `Retry-After` of an error, in milliseconds, if the server sent one. */
export function retryAfterMs(err: unknown): number | undefined {
  const headers = (err as { headers?: Record<string, string> }).headers
  const value = headers?.[HEADERS.retryAfter]
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now())
}

/** The error of a non-2xx answer: its wire error when it has one, else one made from the status. */
function errorOf(status: number, text: string, headers: Record<string, string | string[] | undefined>): StateStreamError {
  const flat = flatten(headers)
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const serverCode = isErrorBody(body) ? body.error.code : undefined
  const options = { headers: flat, status, ...(serverCode !== undefined && { serverCode }) }
  // The server's own answer: its code, when it is one of ours and fits the status.
  if (isErrorBody(body) && Object.hasOwn(ERROR_STATUS, body.error.code) && ERROR_STATUS[body.error.code] === status) {
    return new StateStreamError(body.error.code, body.error.message, options)
  }
  // A proxy, a gateway or a foreign server: the status decides the code; the body's own is kept.
  const message = isErrorBody(body) ? `HTTP ${status}: ${body.error.message}` : `HTTP ${status}`
  return new StateStreamError(codeOfStatus(status), message, options)
}

/** The nearest code for an HTTP status that came without one of ours. */
function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return ErrorCode.UNAUTHORIZED
    case 403:
      return ErrorCode.FORBIDDEN
    case 404:
      return ErrorCode.NOT_FOUND
    case 408:
      return ErrorCode.REQUEST_TIMEOUT
    case 413:
      return ErrorCode.PAYLOAD_TOO_LARGE
    case 429:
      return ErrorCode.RATE_LIMITED
  }
  return status >= 500 ? ErrorCode.NETWORK : ErrorCode.BAD_REQUEST
}

/** Wraps anything that is not already a `StateStreamError` as a `NETWORK` error, keeping the cause. */
export function toNetworkError(err: unknown): StateStreamError {
  if (err instanceof StateStreamError) return err
  if (err instanceof Error && err.name === 'StateStreamError') return err as StateStreamError
  if (err instanceof Error && err.name === 'AbortError') {
    return new StateStreamError(ErrorCode.CLOSED, 'the request was aborted', { cause: err })
  }
  const message = err instanceof Error ? err.message : String(err)
  return new StateStreamError(ErrorCode.NETWORK, `network failure: ${message}`, { cause: err })
}

function flatten(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [key, value] of Object.entries(headers)) {
    if (value !== undefined) out[key.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}
