/**
 * Reconnection delays: exponential backoff with full jitter (AWS architecture blog, "Exponential
 * Backoff And Jitter"): the n-th retry waits a uniformly random time in `[0, min(max, initial·2ⁿ)]`,
 * so a crowd of clients cut at the same moment does not come back at the same moment. A server's
 * `Retry-After` is a floor: never retry sooner than it asked.
 */

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

/** The state of one retry loop: how many attempts failed since the last success. */
export class Backoff {
  readonly #initialMs: number
  readonly #maxMs: number
  readonly #random: () => number
  #attempt = 0

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs
    this.#maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs
    this.#random = options.random ?? Math.random
  }

  /** Failed attempts since the last `reset()`. */
  get attempt(): number {
    return this.#attempt
  }

  /** The delay before the next attempt, counting this failure; at least `floorMs` (`Retry-After`). */
  next(floorMs = 0): number {
    const ceiling = Math.min(this.#maxMs, this.#initialMs * 2 ** Math.min(this.#attempt, 30))
    this.#attempt += 1
    return Math.max(floorMs, Math.floor(this.#random() * ceiling))
  }

  /** Forgets past failures (after a connection that worked). */
  reset(): void {
    this.#attempt = 0
  }
}

/** Resolves after `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason)
      return
    }
    const onAbort = (): void => {
      clearTimeout(timer)
      reject(signal?.reason)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve()
    }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
