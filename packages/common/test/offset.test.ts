/** Log offsets: fixed-width, lexicographically sortable, with the `-1` and `now` sentinels. */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { decodeOffset, encodeOffset, ErrorCode, OFFSET_NOW, OFFSET_START } from '../src/index.ts'
import { expectCode } from './support.ts'

const seqArb = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER })

test('offsets are 16 decimal digits', () => {
  expect(encodeOffset(0)).toBe('0000000000000000')
  expect(encodeOffset(42)).toBe('0000000000000042')
  expect(encodeOffset(Number.MAX_SAFE_INTEGER)).toBe('9007199254740991')
})

test('property: decodeOffset(encodeOffset(seq)) is seq', () => {
  fc.assert(
    fc.property(seqArb, (seq) => {
      const offset = encodeOffset(seq)
      expect(offset).toMatch(/^\d{16}$/)
      expect(decodeOffset(offset)).toEqual({ kind: 'seq', seq })
    }),
  )
})

test('property: offsets sort as strings exactly as their seqs sort as numbers', () => {
  const small = fc.integer({ min: 0, max: 1000 })
  fc.assert(
    fc.property(fc.oneof(seqArb, small), fc.oneof(seqArb, small), (a, b) => {
      const x = encodeOffset(a)
      const y = encodeOffset(b)
      const textual = x < y ? -1 : x > y ? 1 : 0
      expect(textual).toBe(Math.sign(a - b))
    }),
  )
})

test('the sentinels: -1 is the start (seq 0), now is the head', () => {
  expect(OFFSET_START).toBe('-1')
  expect(OFFSET_NOW).toBe('now')
  expect(decodeOffset('-1')).toEqual({ kind: 'seq', seq: 0 })
  expect(decodeOffset('now')).toEqual({ kind: 'now' })
  // Both sentinels sort before every real offset, and "-1" is where seq 0 is.
  expect(decodeOffset('-1')).toEqual(decodeOffset(encodeOffset(0)))
})

test.each([
  { name: 'empty', offset: '' },
  { name: 'too short', offset: '1' },
  { name: '15 digits', offset: '000000000000001' },
  { name: '17 digits', offset: '00000000000000001' },
  { name: 'a letter', offset: '000000000000000a' },
  { name: 'a sign', offset: '+000000000000001' },
  { name: 'a negative number', offset: '-000000000000001' },
  { name: 'another negative sentinel', offset: '-2' },
  { name: 'leading space', offset: ' 000000000000001' },
  { name: 'trailing newline', offset: '0000000000000001\n' },
  { name: 'NOW in capitals', offset: 'NOW' },
  { name: '-1 with a space', offset: '-1 ' },
  { name: 'a decimal point', offset: '00000000000001.0' },
  { name: 'beyond the safe integers', offset: '9007199254740992' },
  { name: 'all nines', offset: '9999999999999999' },
  { name: 'non-ASCII digits', offset: '٠٠٠٠٠٠٠٠٠٠٠٠٠٠٠١' },
])('decodeOffset refuses $name', ({ offset }) => {
  expectCode(() => decodeOffset(offset), ErrorCode.INVALID_OFFSET)
})
