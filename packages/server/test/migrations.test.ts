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
  rollBackTo3(db)
  db.exec('ALTER TABLE streams DROP COLUMN touched_ts')
  db.exec('CREATE INDEX entries_by_gpos ON entries (stream_id, gpos)')
  db.pragma('user_version = 1')
  db.close()

  t += 5_000
  const second = new StreamStore({ file, now: () => t })
  try {
    expect(await second.headState('s')).toMatchObject({ seq: 1, state: { a: 1 } })
    // Without a recorded touch, a TTL counts from creation: alive at +5 s, gone at +10 s.
    expect(await second.find('ttl')).toBeDefined()
    t += 5_000
    expect(await second.find('ttl')).toBeUndefined()
    await second.append({ name: 's', contentType: 'application/json', body: Buffer.from('{"merge":{"b":2}}') })
    expect(await second.headState('s')).toMatchObject({ seq: 2, state: { a: 1, b: 2 } })
  } finally {
    await second.close()
  }
  const check = new Database(file, { readonly: true })
  expect(check.pragma('user_version', { simple: true })).toBe(4)
  // Migration 3 dropped the gpos index that schema 1 had.
  expect(check.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'entries_by_gpos'").get()).toBeUndefined()
  check.close()
})

/** Undoes migration 4 (closure, forks, marks) on a closed database file. */
function rollBackTo3(db: Database.Database): void {
  db.exec('DROP INDEX streams_by_fork_of')
  for (const column of ['closed', 'deleted', 'fork_of', 'fork_seq', 'fork_snap_seq', 'fork_prefix']) {
    db.exec(`ALTER TABLE streams DROP COLUMN ${column}`)
  }
  db.exec('DROP TABLE marks')
  db.pragma('user_version = 3')
}

test('a schema-3 database (before closure, forks and byte marks) is migrated: its logs get their marks and can be forked', async ({ tmp }) => {
  const file = join(tmp, 'v3.db')
  const first = new StreamStore({ file })
  await first.create({ name: 'log', contentType: 'text/plain', kind: 'plain' })
  // 2,100 entries of 1 to 3 bytes (some multi-byte UTF-8): marks at 1024 and 2048.
  const texts = Array.from({ length: 2100 }, (_, i) => (i % 3 === 0 ? 'é' : String(i % 100)))
  for (let i = 0; i < texts.length; i += 300) {
    await Promise.all(texts.slice(i, i + 300).map((text) => first.append({ name: 'log', contentType: 'text/plain', body: Buffer.from(text) })))
  }
  await first.close()
  const db = new Database(file)
  rollBackTo3(db)
  db.close()

  const second = new StreamStore({ file })
  try {
    const check = new Database(file, { readonly: true })
    const marks = check.prepare('SELECT seq, cum_bytes FROM marks ORDER BY seq').all()
    check.close()
    const bytesUpTo = (seq: number) => texts.slice(0, seq).reduce((sum, text) => sum + Buffer.byteLength(text), 0)
    expect(marks).toEqual([
      { seq: 1024, cum_bytes: bytesUpTo(1024) },
      { seq: 2048, cum_bytes: bytesUpTo(2048) },
    ])
    expect(await second.get('log')).toMatchObject({ closed: false, fork: null, headSeq: 2100 })
    // A fork made after the migration reads the old log through, and counts its bytes from the marks.
    const { info } = await second.create({ name: 'fork', fork: { source: 'log', offset: 2060 } })
    expect(info).toMatchObject({ headSeq: 2060, totalBytes: bytesUpTo(2060), fork: { seq: 2060 } })
    expect((await second.entriesAfter(info, 2050, 100)).map((e) => e.data.toString())).toEqual(texts.slice(2050, 2060))
  } finally {
    await second.close()
  }
})

test('a database from a newer server is refused', async ({ tmp }) => {
  const file = join(tmp, 'future.db')
  await new StreamStore({ file }).close()
  const db = new Database(file)
  db.pragma('user_version = 99')
  db.close()
  expect(() => new StreamStore({ file })).toThrow(/newer/)
})
