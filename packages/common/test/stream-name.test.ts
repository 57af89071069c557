/** Stream names (§1): segments of `[A-Za-z0-9._~-]` joined by `/`, at most 512 bytes. */
import { expect, test } from 'vitest'
import { assertStreamName, ErrorCode, streamNameProblem } from '../src/index.ts'
import { expectCode } from './support.ts'

test.each([
  'a',
  'weather/station-1',
  'a.b~c_d',
  'A/b/C/0/9',
  '...',
  '.a/b.',
  '-~_.',
  'a'.repeat(512),
  `${'a'.repeat(255)}/${'b'.repeat(256)}`,
])('%s is a valid stream name', (name) => {
  expect(streamNameProblem(name)).toBeUndefined()
  expect(assertStreamName(name)).toBe(name)
})

test.each([
  { name: 'empty', value: '' },
  { name: 'a leading slash', value: '/a' },
  { name: 'a trailing slash', value: 'a/' },
  { name: 'an empty segment', value: 'a//b' },
  { name: 'a . segment', value: 'a/./b' },
  { name: 'a lone .', value: '.' },
  { name: 'a .. segment', value: '..' },
  { name: 'a trailing .. segment', value: 'a/..' },
  { name: 'a space', value: 'a b' },
  { name: 'a non-ASCII letter', value: 'é' },
  { name: 'a percent escape', value: 'a%2Fb' },
  { name: 'a backslash', value: 'a\\b' },
  { name: 'a query character', value: 'a?b' },
  { name: 'a newline', value: 'a\nb' },
  { name: '513 characters', value: 'a'.repeat(513) },
  { name: '512 two-byte characters', value: 'é'.repeat(512) },
])('$name is not a stream name', ({ value }) => {
  const problem = streamNameProblem(value)
  expect(problem).toEqual(expect.any(String))
  const err = expectCode(() => assertStreamName(value), ErrorCode.INVALID_STREAM_NAME)
  expect(err.message).toBe(problem)
})
