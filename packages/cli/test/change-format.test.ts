import { describe, expect, test } from 'vitest'
import { describeChange } from '../src/change-format.ts'

describe('describeChange', () => {
  test.each([
    [{ t: 21.4 }, { t: 21.5 }, 't: 21.4 → 21.5'],
    [{ t: 1 }, { t: 1, rain: 0 }, '+rain: 0'],
    [{ t: 1, gust: 3 }, { t: 1 }, '-gust'],
    [{ a: { b: [1, 2] } }, { a: { b: [1, 3] } }, 'a.b[1]: 2 → 3'],
    [{ 'x y': 1 }, { 'x y': 2 }, '["x y"]: 1 → 2'],
    [{ t: 1 }, { t: 1 }, '(no change)'],
    [{ t: 1 }, 5, '.: {"t":1} → 5'],
  ])('%j → %j', (before, after, text) => {
    expect(describeChange(before, after)).toBe(text)
  })

  test('long values are cut, many changes are counted', () => {
    const before = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 0]))
    const after = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(100)]))
    const text = describeChange(before, after)
    expect(text).toContain('…')
    expect(text).toContain('(+2 more)')
  })
})
