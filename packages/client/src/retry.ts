/**
 * The one retry loop of the client's requests: a call is tried again after a jittered backoff
 * while it fails with a retryable error (a network failure, or a 408, 429 or 5xx answer), never
 * sooner than a `Retry-After` asked, and at most `attempts` times in all.
 */
import { Backoff, sleep } from './backoff.ts'
import type { BackoffOptions } from './backoff.ts'
import { isRetryable, retryAfterMs } from './http.ts'

/** How a call is retried. */
export interface RetryOptions {
  /** Attempts in all, the first included. */
  attempts: number
  backoff?: BackoffOptions | undefined
  /** Stops the retries (the wait between two attempts rejects with its reason). */
  signal?: AbortSignal | undefined
}

/** Runs `call` until it succeeds, fails for good, or has used up its attempts (then its last error). */
export async function retrying<T>(call: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const backoff = new Backoff(options.backoff)
  for (let attempt = 1; ; attempt++) {
    try {
      return await call(attempt)
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason
      if (!isRetryable(err) || attempt >= options.attempts) throw err
      await sleep(backoff.next(retryAfterMs(err) ?? 0), options.signal)
    }
  }
}
