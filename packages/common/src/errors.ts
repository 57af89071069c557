/**
 * The one list of error codes, the wire error body, and the base error class. Code branches on
 * `err.code`, never on `instanceof`, so errors survive crossing package and process boundaries.
 */

/** Every error code the server sends or the client raises. Stable: clients may branch on them. */
export const ErrorCode = {
  /** A request that is malformed in a way no more specific code covers. */
  BAD_REQUEST: 'BAD_REQUEST',
  /** A stream name breaks the rules of §1 (segments of `[A-Za-z0-9._~-]`, ≤ 512 bytes). */
  INVALID_STREAM_NAME: 'INVALID_STREAM_NAME',
  /** A body that should be JSON is not. */
  INVALID_JSON: 'INVALID_JSON',
  /** A JSON body nests deeper than `MAX_JSON_DEPTH`, or a mutation would make the state do so. */
  JSON_TOO_DEEP: 'JSON_TOO_DEEP',
  /** A JSON body has an object or array of more than `MAX_JSON_MEMBERS` members. */
  JSON_TOO_MANY_MEMBERS: 'JSON_TOO_MANY_MEMBERS',
  /** A message on a state stream is not a mutation (`patch`, `merge` or `set`). */
  INVALID_MUTATION: 'INVALID_MUTATION',
  /** A mutation that cannot be applied to the state (failing `test`, missing path). */
  MUTATION_FAILED: 'MUTATION_FAILED',
  /** A query parameter or header value is out of its domain. */
  INVALID_PARAMETER: 'INVALID_PARAMETER',
  /** An offset that is malformed or beyond the head of the stream. */
  INVALID_OFFSET: 'INVALID_OFFSET',
  /** The body is empty where content is required. */
  EMPTY_BODY: 'EMPTY_BODY',
  /** The body is larger than the server accepts. */
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  /** The request's headers are larger than the server accepts (HTTP 431). */
  HEADERS_TOO_LARGE: 'HEADERS_TOO_LARGE',
  /** A body of a content type the route does not take (HTTP 415). */
  UNSUPPORTED_MEDIA_TYPE: 'UNSUPPORTED_MEDIA_TYPE',
  /** No stream of that name. */
  STREAM_NOT_FOUND: 'STREAM_NOT_FOUND',
  /** No route for that method and path. */
  NOT_FOUND: 'NOT_FOUND',
  /** A stream of that name exists with another configuration. */
  STREAM_CONFLICT: 'STREAM_CONFLICT',
  /** The request's content type differs from the stream's. */
  CONTENT_TYPE_MISMATCH: 'CONTENT_TYPE_MISMATCH',
  /** A writer-supplied `ts` is earlier than the stream's last `ts`. */
  TS_REGRESSION: 'TS_REGRESSION',
  /** A `Stream-Seq` not greater than the last one. */
  STREAM_SEQ_REGRESSION: 'STREAM_SEQ_REGRESSION',
  /** A history or live route on a stream that is not a state stream. */
  NOT_A_STATE_STREAM: 'NOT_A_STATE_STREAM',
  /** An idempotent producer whose epoch is older than the server's. */
  PRODUCER_STALE_EPOCH: 'PRODUCER_STALE_EPOCH',
  /** An idempotent producer that skipped a sequence number. */
  PRODUCER_SEQ_GAP: 'PRODUCER_SEQ_GAP',
  /** Too many open connections (from this address, or live ones for this token). */
  TOO_MANY_CONNECTIONS: 'TOO_MANY_CONNECTIONS',
  /** More streams on one live connection than the server allows. */
  TOO_MANY_STREAMS: 'TOO_MANY_STREAMS',
  /** The method is not supported on this resource. */
  METHOD_NOT_ALLOWED: 'METHOD_NOT_ALLOWED',
  /** The server is shutting down. */
  SHUTTING_DOWN: 'SHUTTING_DOWN',
  /** The server is up but cannot serve: its store does not answer (`/ready`, HTTP 503). */
  NOT_READY: 'NOT_READY',
  /**
   * The store's database does not answer (it restarted, the connection was lost, it is
   * overloaded): retry. A write answered with it was not stored, unless its message says that its
   * outcome is unknown (the connection was lost as it committed).
   */
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  /** A live reader fell too far behind and must reconnect from its last id. */
  SLOW_READER: 'SLOW_READER',
  /**
   * The stream was deleted: while it was being read, or before (a deleted stream that forks still
   * read through answers this, 410, until the last of them goes).
   */
  STREAM_DELETED: 'STREAM_DELETED',
  /** No valid credentials: a missing, malformed or expired token (HTTP 401). */
  UNAUTHORIZED: 'UNAUTHORIZED',
  /** Valid credentials without the grant the request needs (HTTP 403). */
  FORBIDDEN: 'FORBIDDEN',
  /** The server (or a proxy in front of it) took too long to receive the request (HTTP 408). */
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  /** Too many requests: wait (at least its `Retry-After`) and try again (HTTP 429). */
  RATE_LIMITED: 'RATE_LIMITED',
  /** The stream is closed: its content is final, and appends are refused. */
  STREAM_CLOSED: 'STREAM_CLOSED',
  /** A network failure (client side): the request may be retried. */
  NETWORK: 'NETWORK',
  /** The client was closed. */
  CLOSED: 'CLOSED',
  /** Anything unexpected. Never carries internal detail over the wire. */
  INTERNAL: 'INTERNAL',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** The body of every error response: `{ "error": { "code", "message" } }`. */
export interface ErrorBody {
  error: { code: ErrorCode; message: string }
}

/** HTTP status for each code; the server's one mapping. */
export const ERROR_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  INVALID_STREAM_NAME: 400,
  INVALID_JSON: 400,
  JSON_TOO_DEEP: 400,
  JSON_TOO_MANY_MEMBERS: 400,
  INVALID_MUTATION: 400,
  MUTATION_FAILED: 409,
  INVALID_PARAMETER: 400,
  INVALID_OFFSET: 400,
  EMPTY_BODY: 400,
  PAYLOAD_TOO_LARGE: 413,
  HEADERS_TOO_LARGE: 431,
  UNSUPPORTED_MEDIA_TYPE: 415,
  STREAM_NOT_FOUND: 404,
  NOT_FOUND: 404,
  STREAM_CONFLICT: 409,
  CONTENT_TYPE_MISMATCH: 409,
  TS_REGRESSION: 409,
  STREAM_SEQ_REGRESSION: 409,
  NOT_A_STATE_STREAM: 409,
  PRODUCER_STALE_EPOCH: 403,
  PRODUCER_SEQ_GAP: 409,
  TOO_MANY_CONNECTIONS: 429,
  TOO_MANY_STREAMS: 400,
  METHOD_NOT_ALLOWED: 405,
  SHUTTING_DOWN: 503,
  NOT_READY: 503,
  STORE_UNAVAILABLE: 503,
  SLOW_READER: 503,
  STREAM_DELETED: 410,
  UNAUTHORIZED: 401,
  FORBIDDEN: 403,
  REQUEST_TIMEOUT: 408,
  RATE_LIMITED: 429,
  STREAM_CLOSED: 409,
  NETWORK: 503,
  CLOSED: 499,
  INTERNAL: 500,
}

/** What a `StateStreamError` may carry besides its code and message. */
export interface StateStreamErrorOptions {
  cause?: unknown
  /** Response headers (the server sends them with the error; the client keeps those it received). */
  headers?: Record<string, string>
  /** HTTP status of the answer the error came from, when there was one. */
  status?: number
  /** The `error.code` of the answer's body, when it had one (it may be a code of a proxy or gateway). */
  serverCode?: string
}

/** Base error of statestream: a stable `code`, a human message, and the `cause` kept. */
export class StateStreamError extends Error {
  readonly code: ErrorCode
  /** Extra response headers (the server sends them with the error). */
  readonly headers: Readonly<Record<string, string>>
  /** HTTP status of the answer the error came from; `undefined` for network failures and in-band errors. */
  readonly status: number | undefined
  /** The body's own `error.code`, when the answer had one; `undefined` otherwise. */
  readonly serverCode: string | undefined

  constructor(code: ErrorCode, message: string, options: StateStreamErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'StateStreamError'
    this.code = code
    this.headers = options.headers ?? {}
    this.status = options.status
    this.serverCode = options.serverCode
  }

  /** The wire body of this error. */
  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } }
  }
}

/** Longest piece of a request that an error message quotes, in characters. */
export const QUOTE_MAX_CHARS = 64

/**
 * `text` as an error message may quote it: JSON-quoted (so control characters and quotes cannot
 * break the message), and cut to `QUOTE_MAX_CHARS` characters with `…` when longer. Error
 * messages quote what a request sent only through this, so an answer never echoes a huge input.
 */
export function quote(text: string): string {
  return JSON.stringify(text.length > QUOTE_MAX_CHARS ? `${text.slice(0, QUOTE_MAX_CHARS)}…` : text)
}

/** `text` (a message from elsewhere, which may quote input) cut to a few times `QUOTE_MAX_CHARS`. */
export function clip(text: string): string {
  const max = 4 * QUOTE_MAX_CHARS
  return text.length > max ? `${text.slice(0, max)}…` : text
}

/** True when `value` is a wire error body. */
export function isErrorBody(value: unknown): value is ErrorBody {
  if (typeof value !== 'object' || value === null) return false
  const error = (value as { error?: unknown }).error
  return (
    typeof error === 'object' &&
    error !== null &&
    typeof (error as { code?: unknown }).code === 'string' &&
    typeof (error as { message?: unknown }).message === 'string'
  )
}
