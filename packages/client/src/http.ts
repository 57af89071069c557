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
  | { type: 'window'; stream: string; state: string; start: number | null; end: number | null }
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

/** The HTTP layer shared by every part of a client. */
export class HttpClient {
  readonly #base: URL
  readonly #dispatcher: Dispatcher
  readonly #trace: ((event: TraceEvent) => void) | undefined

  constructor(baseUrl: string, dispatcher: Dispatcher, trace?: (event: TraceEvent) => void) {
    this.#base = new URL(baseUrl)
    this.#dispatcher = dispatcher
    this.#trace = trace
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

  /** Sends a request and parses a JSON answer; non-2xx answers throw their wire error. */
  async json<T>(path: string, options: RequestOptions = {}): Promise<JsonResponse<T>> {
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
  async stream(path: string, options: RequestOptions = {}): Promise<Dispatcher.ResponseData> {
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
    try {
      return await request(this.url(path), {
        dispatcher: this.#dispatcher,
        method,
        ...(options.headers !== undefined && { headers: options.headers }),
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

/** True for errors worth retrying: network failures and the server's "try again" answers. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown }).code
  return code === ErrorCode.NETWORK || code === ErrorCode.SHUTTING_DOWN || code === ErrorCode.SLOW_READER || code === ErrorCode.INTERNAL
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
  if (isErrorBody(body) && Object.hasOwn(ERROR_STATUS, body.error.code)) {
    return new StateStreamError(body.error.code, body.error.message, { headers: flat })
  }
  // A proxy or a foreign server: map the status to the nearest code.
  const code = status === 404 ? ErrorCode.NOT_FOUND : status >= 500 ? ErrorCode.NETWORK : ErrorCode.BAD_REQUEST
  return new StateStreamError(code, `HTTP ${status}`, { headers: flat })
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
