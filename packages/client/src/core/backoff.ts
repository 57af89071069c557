/**
 * The one retry policy of the client, as pure functions: which failures are worth retrying, and
 * how long to wait before the next attempt.
 *
 * Delays grow exponentially with "equal jitter": the n-th consecutive failure (n = 0, 1, …) waits
 * a uniformly random time in `[c/2, c]`, where `c = min(maxMs, initialMs · 2ⁿ)`. The jitter
 * spreads a crowd of clients cut at the same moment; the lower half keeps a client that fails
 * again and again from coming back at once (full jitter could draw 0 every time). A server's
 * `Retry-After` is a floor. With the defaults (100 ms, 10 s) the schedule of lower bounds is
 * 50, 100, 200, 400, 800, 1600, 3200, 5000, 5000, … ms: at most 7 retries in the first 10 s.
 */
import { ErrorCode, HEADERS } from '@statestream/common'

/** Backoff settings, in milliseconds. */
export interface BackoffOptions {
  /** Upper bound of the first delay. Default 100 ms. */
  initialMs?: number
  /** Largest upper bound any delay may have. Default 10 s. */
  maxMs?: number
  /** Source of randomness in `[0, 1)`. Default `Math.random`. */
  random?: () => number
}

/** The defaults of `BackoffOptions`. */
export const DEFAULT_BACKOFF = { initialMs: 100, maxMs: 10_000 } as const

/**
 * How long a connection must stay up after its initial data (or deliver a new entry) before it
 * counts as healthy, which alone resets the backoff. An answer that fails right after it opened,
 * an in-band error included, never does.
 */
export const HEALTHY_AFTER_MS = 3_000

/** The delay before the next attempt after `failures` consecutive failures (1 for the first), at least `floorMs`. */
export function backoffDelay(failures: number, random: number, options: BackoffOptions = {}, floorMs = 0): number {
  const initial = options.initialMs ?? DEFAULT_BACKOFF.initialMs
  const max = options.maxMs ?? DEFAULT_BACKOFF.maxMs
  const ceiling = Math.min(max, initial * 2 ** Math.min(Math.max(0, failures - 1), 30))
  return Math.max(floorMs, Math.floor(ceiling / 2 + random * (ceiling / 2)))
}

/** What a failure calls for. */
export type FailureKind =
  /** Try again after a backoff: the network, a timeout, a rate limit, a server failure. */
  | 'retry'
  /** The stream is gone (deleted or missing): what is held of it must go too. */
  | 'gone'
  /** The call was cut short by its caller, or the client closed. */
  | 'closed'
  /** Refused: trying again cannot help (unless `onError` gives new credentials). */
  | 'refused'

/** Statuses worth retrying whoever sent them: a timeout, a rate limit, and every server failure. */
function retryableStatus(status: number): boolean {
  return status === 408 || status === 429 || status >= 500
}

/** In-band codes (no HTTP status) after which a reconnect resumes where it was. */
const RETRY_CODES = new Set<string>([ErrorCode.NETWORK, ErrorCode.SHUTTING_DOWN, ErrorCode.SLOW_READER, ErrorCode.STORE_UNAVAILABLE, ErrorCode.INTERNAL])

/** Classifies an error by its status when it came from an answer, else by its code. */
export function classify(err: unknown): FailureKind {
  const { code, status } = (err ?? {}) as { code?: unknown; status?: unknown }
  if (code === ErrorCode.CLOSED) return 'closed'
  if (code === ErrorCode.STREAM_DELETED || code === ErrorCode.STREAM_NOT_FOUND) return 'gone'
  if (typeof status === 'number') return retryableStatus(status) ? 'retry' : 'refused'
  return typeof code === 'string' && RETRY_CODES.has(code) ? 'retry' : 'refused'
}

/** The `Retry-After` of an error, in milliseconds from `now`, if the answer had one. */
export function retryAfterMs(err: unknown, now: number): number | undefined {
  const value = (err as { headers?: Record<string, string> } | undefined)?.headers?.[HEADERS.retryAfter]
  if (value === undefined) return undefined
  const seconds = Number(value)
  if (value.trim() !== '' && Number.isFinite(seconds) && seconds >= 0) return seconds * 1000
  const date = Date.parse(value)
  // A date far off (clock skew, a typo) is capped at an hour.
  return Number.isNaN(date) ? undefined : Math.min(3_600_000, Math.max(0, date - now))
}
