/**
 * Errors of a request, whoever answered it: the server's own wire error keeps its code; an answer
 * of a proxy, a gateway or a foreign server gets the code nearest its status; either way the error
 * carries the status and the body's own `error.code`. A failure to get any answer is `NETWORK`.
 */
import { ERROR_STATUS, ErrorCode, StateStreamError, isErrorBody } from '@statestream/common'

/** The error of a non-2xx answer with body `text`. */
export function errorOf(status: number, text: string, headers: Record<string, string>): StateStreamError {
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  const serverCode = isErrorBody(body) ? body.error.code : undefined
  const options = { headers, status, ...(serverCode !== undefined && { serverCode }) }
  // The server's own answer: its code, when it is one of ours and fits the status.
  if (isErrorBody(body) && Object.hasOwn(ERROR_STATUS, body.error.code) && ERROR_STATUS[body.error.code] === status) {
    return new StateStreamError(body.error.code, body.error.message, options)
  }
  const message = isErrorBody(body) ? `HTTP ${status}: ${body.error.message}` : `HTTP ${status}`
  return new StateStreamError(codeOfStatus(status), message, options)
}

/** The nearest code for an HTTP status that came without one of ours. */
export function codeOfStatus(status: number): ErrorCode {
  switch (status) {
    case 401:
      return ErrorCode.UNAUTHORIZED
    case 403:
      return ErrorCode.FORBIDDEN
    case 404:
      return ErrorCode.NOT_FOUND
    case 408:
      return ErrorCode.REQUEST_TIMEOUT
    case 410:
      // Gone: what a deleted stream answers (a HEAD has no body to say so).
      return ErrorCode.STREAM_DELETED
    case 413:
      return ErrorCode.PAYLOAD_TOO_LARGE
    case 429:
      return ErrorCode.RATE_LIMITED
  }
  return status >= 500 ? ErrorCode.NETWORK : ErrorCode.BAD_REQUEST
}

/** An in-band error event's data (`{ "error": { code, message } }`) as an error (no status: it came mid-answer). */
export function inBandError(data: string): StateStreamError {
  let body: unknown
  try {
    body = JSON.parse(data)
  } catch {
    body = undefined
  }
  if (!isErrorBody(body)) return new StateStreamError(ErrorCode.NETWORK, 'the live connection failed')
  const code = Object.hasOwn(ERROR_STATUS, body.error.code) ? body.error.code : ErrorCode.NETWORK
  return new StateStreamError(code, body.error.message, { serverCode: body.error.code })
}

/** True for a `StateStreamError`, by its shape (it may come from another copy of `common`). */
export function isStateStreamError(err: unknown): err is StateStreamError {
  return err instanceof Error && err.name === 'StateStreamError' && typeof (err as { code?: unknown }).code === 'string'
}

/** Wraps anything that is not already a `StateStreamError` as a `NETWORK` error, keeping the cause. */
export function toNetworkError(err: unknown): StateStreamError {
  if (isStateStreamError(err)) return err
  const message = err instanceof Error ? err.message : String(err)
  return new StateStreamError(ErrorCode.NETWORK, `network failure: ${message}`, { cause: err })
}
