/** RFC 6901 JSON Pointers: parsing with `~1`/`~0` unescaping, escaping, and refusals. */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import { ErrorCode, escapePointerToken, parsePointer } from '../src/index.ts'
import { expectCode } from './support.ts'

test.each<{ pointer: string; tokens: string[] }>([
  { pointer: '', tokens: [] },
  { pointer: '/', tokens: [''] },
  { pointer: '/foo', tokens: ['foo'] },
  { pointer: '/foo/0', tokens: ['foo', '0'] },
  { pointer: '/a~1b', tokens: ['a/b'] },
  { pointer: '/m~0n', tokens: ['m~n'] },
  { pointer: '/~01', tokens: ['~1'] },
  { pointer: '/~10', tokens: ['/0'] },
  { pointer: '/~0~1~1~0', tokens: ['~//~'] },
  { pointer: '//a//', tokens: ['', 'a', '', ''] },
  { pointer: '/ /%25/^|', tokens: [' ', '%25', '^|'] },
])('parsePointer($pointer)', ({ pointer, tokens }) => {
  expect(parsePointer(pointer)).toEqual(tokens)
})

test.each(['a', 'a/b', '#/a', '~0', '/a~2', '/a~', '/~/b', '/x/~a'])('parsePointer refuses %j', (pointer) => {
  expectCode(() => parsePointer(pointer), ErrorCode.INVALID_MUTATION)
})

test('property: escaping then parsing gives back the tokens', () => {
  const token = fc.string({ unit: fc.constantFrom('a', '~', '/', '0', '1', 'é') })
  fc.assert(
    fc.property(fc.array(token, { maxLength: 5 }), (tokens) => {
      const pointer = tokens.map((t) => `/${escapePointerToken(t)}`).join('')
      expect(parsePointer(pointer)).toEqual(tokens)
    }),
  )
})
