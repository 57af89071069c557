/**
 * The one retry loop of the client's requests (reads, appends, creates). A call is tried again
 * after a backoff while it fails with a retryable error (`core/backoff.ts`: a network failure, a
 * 408, 429 or 5xx answer), never sooner than a `Retry-After` asked, at most `attempts` times in
 * all. An error about to reach the caller first goes to `onError`, whose new headers retry the
 * call at once. The live tails reconnect by the same policy through their connection machine.
 */
import { backoffDelay, classify, retryAfterMs } from '../core/backoff.ts'
import type { BackoffOptions } from '../core/backoff.ts'
import type { Transport } from './transport.ts'

/** How a call is retried. */
export interface RetryOptions {
  /** Attempts in all, the first included (`onError` retries aside). */
  attempts: number
  backoff?: BackoffOptions | undefined
  /** Stops the retries: the call rejects with its reason. */
  signal?: AbortSignal | undefined
}

/** Runs `call` until it succeeds, fails for good, or has used up its attempts (then its last error). */
export async function retrying<T>(transport: Transport, call: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const random = options.backoff?.random ?? Math.random
  let failures = 0
  let recoveries = 0
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt)
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason
      // However it failed (a body cut as the dispatcher closed, say): nothing more is tried.
      const closed = transport.closedError
      if (closed !== undefined) throw closed
      const kind = classify(err)
      if (kind === 'retry' && failures + 1 < options.attempts) {
        failures += 1
        await sleep(backoffDelay(failures, random(), options.backoff, retryAfterMs(err, Date.now())), options.signal)
        continue
      }
      if (kind !== 'closed' && (await transport.recover(err, recoveries))) {
        recoveries += 1
        continue
      }
      throw err
    }
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
