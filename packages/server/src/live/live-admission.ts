/**
 * Who may hold a live connection, and for how long. With access control on, each token may hold
 * at most `maxPerToken` live connections at once (SSE and long-polls alike): one more is refused
 * with `TOO_MANY_CONNECTIONS` before its response starts. And a live connection lasts no longer
 * than its token: at the token's `exp` it is ended (`UNAUTHORIZED` in-band where the format has
 * errors), so the client renews the token and resumes from its last id.
 */
import { ErrorCode, StateStreamError } from '@statestream/common'
import type { FastifyRequest } from 'fastify'
import { credentialsOf } from '../auth/access-control.ts'

/** Longest delay one timer takes (setTimeout fires at once past 2^31 - 1 ms). */
const MAX_TIMER_MS = 2 ** 31 - 1

export class LiveAdmission {
  readonly #maxPerToken: number
  readonly #open = new Map<string, number>()

  constructor(maxPerToken: number) {
    this.#maxPerToken = maxPerToken
  }

  /**
   * Admits a live connection for `request`, or throws `TOO_MANY_CONNECTIONS`. Returns the release
   * function, to call once when the connection ends.
   */
  admit(request: FastifyRequest): () => void {
    const token = credentialsOf(request)?.token
    if (token === undefined) return () => {}
    const open = this.#open.get(token) ?? 0
    if (open >= this.#maxPerToken) {
      throw new StateStreamError(
        ErrorCode.TOO_MANY_CONNECTIONS,
        `this token already holds ${open} live connections, the most it may (close one, or use the multiplexed /v1/live)`,
        { headers: { 'retry-after': '1' } },
      )
    }
    this.#open.set(token, open + 1)
    let released = false
    return () => {
      if (released) return
      released = true
      const left = (this.#open.get(token) ?? 1) - 1
      if (left <= 0) this.#open.delete(token)
      else this.#open.set(token, left)
    }
  }

  /** Live connections open per token right now (for tests and metrics). */
  openFor(token: string): number {
    return this.#open.get(token) ?? 0
  }

  /**
   * Calls `expired` when `request`'s token expires (never when it has no `exp`, or access control
   * is off). Returns the function that cancels it.
   */
  onExpiry(request: FastifyRequest, expired: () => void): () => void {
    const expiresAt = credentialsOf(request)?.expiresAt
    if (expiresAt === undefined || expiresAt === null) return () => {}
    let timer: NodeJS.Timeout | undefined
    const arm = (): void => {
      // The token's clock is the real one (jose checks `exp` against it), not the store's.
      const left = expiresAt - Date.now()
      if (left <= 0) return expired()
      timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS))
      timer.unref()
    }
    arm()
    return () => clearTimeout(timer)
  }

  /** Ms until `request`'s token expires; `undefined` when it never does. */
  untilExpiry(request: FastifyRequest): number | undefined {
    const expiresAt = credentialsOf(request)?.expiresAt
    return expiresAt === undefined || expiresAt === null ? undefined : Math.max(0, expiresAt - Date.now())
  }
}
