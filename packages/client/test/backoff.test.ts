import { expect, test } from 'vitest'
import { Backoff } from '../src/backoff.ts'

test('full jitter: each delay is drawn from [0, min(max, initial·2ⁿ))', () => {
  const highest = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0.999999 })
  expect([1, 2, 3, 4, 5, 6].map(() => highest.next())).toEqual([99, 199, 399, 799, 999, 999])
  const lowest = new Backoff({ initialMs: 100, maxMs: 1_000, random: () => 0 })
  expect([1, 2, 3].map(() => lowest.next())).toEqual([0, 0, 0])
})

test('Retry-After is a floor', () => {
  const backoff = new Backoff({ initialMs: 100, random: () => 0 })
  expect(backoff.next(2_000)).toBe(2_000)
})

test('reset starts over after a connection that worked', () => {
  const backoff = new Backoff({ initialMs: 100, maxMs: 10_000, random: () => 0.5 })
  backoff.next()
  backoff.next()
  backoff.next()
  expect(backoff.attempt).toBe(3)
  backoff.reset()
  expect(backoff.next()).toBe(50)
})
