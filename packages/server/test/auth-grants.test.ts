/**
 * Grants: the `scope` claim's grammar and the segment-boundary prefixes of design §2.5.
 */
import { describe, expect, test } from 'vitest'
import { allows, covers, parseGrants } from '../src/auth/grants.ts'

describe('prefixes end at a segment boundary', () => {
  test.for([
    ['weather/', 'weather/a', true],
    ['weather/', 'weather/a/b', true],
    ['weather/', 'weather', false],
    ['weather/', 'weatherx/a', false],
    ['weather', 'weather', true],
    ['weather', 'weather/a', true],
    ['weather', 'weatherx', false],
    ['weather', 'weathe', false],
    ['weather/a', 'weather/ab', false],
    ['weather/a', 'weather/a/b', true],
    ['', 'anything/at/all', true],
  ] as const)('prefix %j covers %j: %s', ([prefix, name, expected]) => {
    expect(covers(prefix, name)).toBe(expected)
  })
})

describe('the scope claim', () => {
  test('a space-separated string or an array of grants; unknown scopes grant nothing', () => {
    expect(parseGrants('read:a/ write:b openid admin')).toEqual({ admin: true, read: ['a/'], write: ['b'] })
    expect(parseGrants(['read:*', 'write:c/*', 42, 'delete:x'])).toEqual({ admin: false, read: [''], write: ['c/'] })
    for (const nothing of [undefined, null, 7, {}, '', 'read:', 'read', 'admin:x', 'READ:a']) {
      expect(parseGrants(nothing), String(nothing)).toEqual({ admin: false, read: [], write: [] })
    }
  })

  test('read does not grant write, nor write read; admin grants every action on every stream', () => {
    const reader = parseGrants('read:w/')
    expect(allows(reader, 'read', 'w/a')).toBe(true)
    expect(allows(reader, 'write', 'w/a')).toBe(false)
    expect(allows(reader, 'admin', 'w/a')).toBe(false)
    const writer = parseGrants('write:w/')
    expect(allows(writer, 'write', 'w/a')).toBe(true)
    expect(allows(writer, 'read', 'w/a')).toBe(false)
    const admin = parseGrants('admin')
    for (const action of ['read', 'write', 'admin'] as const) expect(allows(admin, action, 'any/stream')).toBe(true)
    const everything = parseGrants('read:* write:*')
    expect(allows(everything, 'read', 'x')).toBe(true)
    expect(allows(everything, 'admin', 'x')).toBe(false)
  })
})
