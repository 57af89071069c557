/** Parsing of path and query parameters into typed values, each failure a clear 400. */
import { AT_NOW, ErrorCode, QUERY, StateStreamError, assertStreamName, quote } from '@statestream/common'

const INTEGER = /^(0|[1-9]\d{0,15})$/

/**
 * Refuses a request path holding an encoded `/` (`%2F`). The router decodes a path before it is
 * matched, so `/v1/state/a%2Fb` would otherwise address stream `a/b`: a name is exactly the path
 * as sent, its segments split by plain `/` only. (Other escapes of unreserved characters, like
 * `%41` for `A`, mean the same URL and are taken as such.)
 */
export function assertExactPath(url: string): void {
  const query = url.indexOf('?')
  const path = query === -1 ? url : url.slice(0, query)
  if (/%2f/i.test(path)) {
    throw new StateStreamError(
      ErrorCode.INVALID_STREAM_NAME,
      'the path holds an encoded "/" (%2F): stream name segments are separated by a plain "/" only',
    )
  }
}

/** The stream name of a wildcard route (`/v1/window/<name>`). */
export function streamName(params: unknown): string {
  const name = (params as { '*'?: string })['*'] ?? ''
  return assertStreamName(name)
}

/** A non-negative integer query parameter, or `undefined` when absent. */
export function intParam(query: Record<string, unknown>, key: string): number | undefined {
  const value = single(query, key)
  if (value === undefined) return undefined
  if (!INTEGER.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${key}" must be a non-negative integer, got ${quote(value)}`)
  }
  return Number(value)
}

/** The point asked for by `at` (a ts or `now`) or `seq`; exactly one may be given. */
export function pointParam(query: Record<string, unknown>): { at: number } | { seq: number } | { now: true } | undefined {
  const at = single(query, QUERY.at)
  const seq = intParam(query, QUERY.seq)
  if (at !== undefined && seq !== undefined) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give "at" or "seq", not both')
  }
  if (seq !== undefined) return { seq }
  if (at === undefined) return undefined
  if (at === AT_NOW) return { now: true }
  return { at: intParam(query, QUERY.at) as number }
}

/** A query parameter given at most once. */
export function single(query: Record<string, unknown>, key: string): string | undefined {
  const value = query[key]
  if (value === undefined) return undefined
  if (typeof value !== 'string') {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${key}" must be given once`)
  }
  return value
}
