/**
 * Versioned migrations: a database written by an older schema opens, is migrated once, keeps its
 * data; one from a newer server is refused rather than misread.
 */
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import { test } from './support.ts'

test('a schema-1 database (before streams.touched_ts) is migrated and keeps its streams and TTLs', async ({ tmp }) => {
  const file = join(tmp, 'v1.db')
  let t = 1_000_000
  const first = new StreamStore({ file, now: () => t })
  await first.create({ name: 's', contentType: 'application/json', kind: 'state', body: Buffer.from('{"set":{"a":1}}') })
  await first.create({ name: 'ttl', contentType: 'text/plain', kind: 'plain', ttlSeconds: 10 })
  await first.close()

  // Roll the file back to schema 1, as the first release wrote it.
  const db = new Database(file)
  db.exec('ALTER TABLE streams DROP COLUMN touched_ts')
  db.exec('CREATE INDEX entries_by_gpos ON entries (stream_id, gpos)')
  db.pragma('user_version = 1')
  db.close()

  t += 5_000
  const second = new StreamStore({ file, now: () => t })
  try {
    expect(second.headState('s')).toMatchObject({ seq: 1, state: { a: 1 } })
    // Without a recorded touch, a TTL counts from creation: alive at +5 s, gone at +10 s.
    expect(second.find('ttl')).toBeDefined()
    t += 5_000
    expect(second.find('ttl')).toBeUndefined()
    await second.append({ name: 's', contentType: 'application/json', body: Buffer.from('{"merge":{"b":2}}') })
    expect(second.headState('s')).toMatchObject({ seq: 2, state: { a: 1, b: 2 } })
  } finally {
    await second.close()
  }
  const check = new Database(file, { readonly: true })
  expect(check.pragma('user_version', { simple: true })).toBe(3)
  // Migration 3 dropped the gpos index that schema 1 had.
  expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'entries_by_gpos'").get()).toBeUndefined()
  check.close()
})

test('a database from a newer server is refused', async ({ tmp }) => {
  const file = join(tmp, 'future.db')
  await new StreamStore({ file }).close()
  const db = new Database(file)
  db.pragma('user_version = 99')
  db.close()
  expect(() => new StreamStore({ file })).toThrow(/newer/)
})
