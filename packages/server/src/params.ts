/** Parsing of path and query parameters into typed values, each failure a clear 400. */
import { AT_NOW, ErrorCode, QUERY, StateStreamError, assertStreamName } from '@statestream/common'

const INTEGER = /^(0|[1-9]\d{0,15})$/

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
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${key}" must be a non-negative integer, got "${value}"`)
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
