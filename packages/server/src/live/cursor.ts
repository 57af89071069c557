/**
 * `Stream-Cursor` values of live reads (Durable Streams protocol §8.1). A cursor is the number of
 * 20-second intervals since 2024-10-09T00:00:00Z. It exists so that CDNs collapsing long-polls
 * key them by time and never serve the same cached empty answer forever: when a client echoes a
 * cursor that is not behind the current interval, the answer must carry a strictly greater one.
 */

/** Start of interval 0: 2024-10-09T00:00:00Z, in ms since the epoch. */
export const CURSOR_EPOCH_MS = Date.UTC(2024, 9, 9)

/** Length of one cursor interval, in ms. */
export const CURSOR_INTERVAL_MS = 20_000

/** Largest jitter added past a client's cursor, in seconds (the protocol's 1–3600 s). */
const MAX_JITTER_SECONDS = 3600

const DECIMAL = /^\d{1,15}$/

/**
 * The cursor to return at time `now` (ms) to a client that sent `clientCursor` (if any).
 * `random` returns a number in [0, 1); injectable so tests are deterministic.
 */
export function liveCursor(now: number, clientCursor?: string, random: () => number = Math.random): string {
  const current = Math.floor((now - CURSOR_EPOCH_MS) / CURSOR_INTERVAL_MS)
  // A cursor we never issued (not a number) carries no ordering promise: answer with the interval.
  if (clientCursor === undefined || !DECIMAL.test(clientCursor)) return String(current)
  const echoed = Number(clientCursor)
  if (echoed < current) return String(current)
  // 1 to 3600 s of jitter, in whole intervals, so concurrent clients spread over distinct keys.
  const jitterSeconds = 1 + Math.floor(random() * MAX_JITTER_SECONDS)
  return String(echoed + Math.max(1, Math.ceil((jitterSeconds * 1000) / CURSOR_INTERVAL_MS)))
}
