import { describe, expect, test } from 'vitest'
import { parseTime } from '../src/time.ts'

const NOW = Date.UTC(2024, 0, 1, 12, 0, 0)

describe('parseTime', () => {
  test.each([
    ['now', NOW],
    ['-5m', NOW - 5 * 60_000],
    ['now-5m', NOW - 5 * 60_000],
    ['-90s', NOW - 90_000],
    ['-1.5h', NOW - 5_400_000],
    ['-2d', NOW - 2 * 86_400_000],
    ['-1w', NOW - 604_800_000],
    ['+250ms', NOW + 250],
    ['1700000000000', 1_700_000_000_000],
    ['2024-01-01T06:25:00Z', Date.UTC(2024, 0, 1, 6, 25)],
    ['2024-01-01T06:25:00.123Z', Date.UTC(2024, 0, 1, 6, 25, 0, 123)],
    ['2024-01-01T08:25:00+02:00', Date.UTC(2024, 0, 1, 6, 25)],
    ['2024-01-01T06:25Z', Date.UTC(2024, 0, 1, 6, 25)],
    ['2024-01-01', Date.UTC(2024, 0, 1)],
    [' now ', NOW],
  ])('%s', (text, ms) => {
    expect(parseTime(text, NOW)).toEqual({ ok: true, ms })
  })

  test.each([
    ['yesterday', 'is not a time'],
    ['2024-01-01T06:25:00', 'is not a time'], // no zone: it would depend on the machine's
    ['-5', 'is not a time'],
    ['5m', 'is not a time'],
    ['2024', 'is not a time'], // a year is not epoch ms
    ['2024-13-01T00:00:00Z', 'is not a valid date'],
    ['99999999999999999999', 'too large'],
    ['', 'is not a time'],
  ])('%s is refused', (text, problem) => {
    const parsed = parseTime(text, NOW)
    expect(parsed.ok).toBe(false)
    if (!parsed.ok) expect(parsed.problem).toContain(problem)
  })
})
