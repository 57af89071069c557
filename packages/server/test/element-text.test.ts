import fc from 'fast-check'
import { expect, test } from 'vitest'
import { assertJsonLimits } from '@statestream/common'
import type { Json } from '@statestream/common'
import { elementTexts } from '../src/element-text.ts'

test('every slice given is exactly what JSON.stringify writes for that element, compact or pretty input', () => {
  fc.assert(
    fc.property(fc.array(fc.jsonValue(), { maxLength: 12 }), fc.boolean(), (elements, pretty) => {
      const text = pretty ? JSON.stringify(elements, null, 2) : JSON.stringify(elements)
      const parsed = JSON.parse(text) as unknown[]
      const texts = elementTexts(text, parsed.length)
      expect(texts).toHaveLength(parsed.length)
      texts?.forEach((slice, i) => {
        if (slice !== undefined) expect(slice).toBe(JSON.stringify(parsed[i]))
      })
    }),
    { numRuns: 500 },
  )
})

test('compact messages of plain strings, integers, booleans and null are sliced in full', () => {
  const scalar = fc.oneof(fc.string({ unit: 'grapheme-ascii' }), fc.integer(), fc.boolean(), fc.constant(null))
  const message = fc.record({ merge: fc.dictionary(fc.string({ unit: 'grapheme-ascii' }), fc.oneof(scalar, fc.array(scalar))) })
  fc.assert(
    fc.property(fc.array(message, { minLength: 1, maxLength: 20 }), (messages) => {
      const text = JSON.stringify(messages)
      const texts = elementTexts(text, messages.length, assertJsonLimits(JSON.parse(text) as Json))
      expect(texts).toEqual(messages.map((m) => JSON.stringify(m)))
    }),
    { numRuns: 300 },
  )
})

test('strings holding brackets, commas, quotes and escapes do not end an element', () => {
  const elements = [
    { merge: { a: 'x,y]}{[', b: 'say "hi"\\' } },
    { set: ['],', { '"': '\\"' }] },
    { patch: [{ op: 'add', path: '/a~1b', value: 'é\n\u2028😀' }] },
    'plain',
    [],
    {},
    true,
    null,
    -12.5,
  ]
  const text = JSON.stringify(elements)
  expect(elementTexts(text, elements.length)).toEqual(elements.map((element) => JSON.stringify(element)))
  // A control character JSON.stringify writes as `\u0000` is left to it.
  expect(elementTexts(JSON.stringify([{ set: 'a\u0000' }, { set: 'b' }]), 2)).toEqual([undefined, '{"set":"b"}'])
})

test('other spellings than JSON.stringify\'s are left to it: space, unusual escapes, exponents, -0, long or padded numbers', () => {
  const odd = ['{"a":1.50}', '{"b":"\\u0041"}', '{"b":"a\\/b"}', '{"c": 1}', '{"d":1e2}', '{"e":-0}', '{"f":2.0}', '{"g":1234567890123456}', '{"h":0.0000001}']
  const usual = ['{"i":-0.5}', '{"j":0.000001}', '{"k":"tab\\there \\"q\\" \\\\"}', '{"l":123456789012345}', '[1,-2,3.25]']
  const text = ` [ ${[...odd, ...usual].join(' , ')} ] `
  const parsed = JSON.parse(text) as unknown[]
  const texts = elementTexts(text, parsed.length)
  expect(texts).toEqual([...odd.map(() => undefined), ...usual])
  // What is kept is exactly what JSON.stringify writes.
  usual.forEach((slice, i) => expect(JSON.stringify(parsed[odd.length + i])).toBe(slice))
})

test('anything but an array of the expected length gives nothing', () => {
  expect(elementTexts('{"merge":{}}', 1)).toBeUndefined()
  expect(elementTexts('[1,2]', 3)).toBeUndefined()
  expect(elementTexts('[]', 0)).toEqual([])
  expect(elementTexts(' [ ] ', 1)).toBeUndefined()
})

test('a repeated key, which parsers read differently, leaves every element to JSON.stringify', () => {
  for (const text of ['[{"a":1,"a":2},{"b":1}]', '[{"b":1},{"set":{"x":{"k":1,"k":2}}}]']) {
    const parsed = JSON.parse(text) as Json
    expect(elementTexts(text, 2, assertJsonLimits(parsed))).toBeUndefined()
  }
  // Keys are counted at every depth, and a string that merely holds a colon is not a key.
  const text = '[{"a":{"b":{"c":"d:e"}}},{"f:":"g"}]'
  const parsed = JSON.parse(text) as Json[]
  expect(assertJsonLimits(parsed)).toBe(4)
  expect(elementTexts(text, 2, 4)).toEqual(parsed.map((element) => JSON.stringify(element)))
})
