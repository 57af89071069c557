/**
 * Time arguments (`--at`, `--from`, `--to`): one grammar for every command.
 *
 *   now                     the current time
 *   1700000000000           epoch milliseconds (10 digits or more, so a year is never taken for one)
 *   2024-01-01T06:25:00Z    ISO 8601 with a time zone (`Z` or `±hh:mm`); a date alone is UTC midnight
 *   -5m  -90s  -2h  -1d     relative to now: ms, s, m, h, d, w; `+` for the future
 *   now-5m                  the same, spelled from `now`
 *
 * Pure: `now` is passed in, so tests and callers agree on one clock reading.
 */

/** Milliseconds per unit of a relative time. */
const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const

const RELATIVE = /^(?:now)?([+-])(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/
const EPOCH_MS = /^\d{10,}$/
// A date, optionally a time with seconds and fraction, then a zone. Without a zone the string
// would be read in the machine's time zone, a silent source of hour-sized errors: refused.
const ISO = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/

/** What a time argument is: an error message or the time in ms since the epoch. */
export type ParsedTime = { ok: true; ms: number } | { ok: false; problem: string }

/** Parses a time argument against the clock reading `now` (ms). */
export function parseTime(text: string, now: number): ParsedTime {
  const value = text.trim()
  if (value === 'now') return { ok: true, ms: now }
  const relative = RELATIVE.exec(value)
  if (relative !== null) {
    const [, sign, amount, unit] = relative as unknown as [string, '+' | '-', string, keyof typeof UNIT_MS]
    const offset = Math.round(Number(amount) * UNIT_MS[unit])
    return { ok: true, ms: sign === '-' ? now - offset : now + offset }
  }
  if (EPOCH_MS.test(value)) {
    const ms = Number(value)
    if (!Number.isSafeInteger(ms)) return { ok: false, problem: `"${text}" is too large for a time in ms` }
    return { ok: true, ms }
  }
  if (ISO.test(value)) {
    const ms = Date.parse(value)
    if (Number.isNaN(ms)) return { ok: false, problem: `"${text}" is not a valid date` }
    return { ok: true, ms }
  }
  return {
    ok: false,
    problem: `"${text}" is not a time: use ISO 8601 with a zone (2024-01-01T06:25:00Z), epoch ms, now, or a relative time (-5m)`,
  }
}

/** A time in ms as ISO 8601 (UTC), for output. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString()
}
