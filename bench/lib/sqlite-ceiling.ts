/**
 * The machine's ceiling for storing entries: raw better-sqlite3 inserts of the same rows into the
 * same table as the server's `entries` (its DDL is copied from `packages/server/src/db.ts`), WAL
 * with `synchronous=NORMAL` (the server's default durability), `batch` rows per transaction, one
 * prepared statement. No HTTP, no JSON, no validation: what is left is SQLite and the disk.
 */
import Database from 'better-sqlite3'
import { mutation } from './load.ts'

/** Inserts batches of `batch` rows for `seconds`; returns rows per second. */
export function sqliteCeiling(file: string, batch: number, seconds: number): number {
  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma('synchronous = NORMAL')
    db.exec(`
      CREATE TABLE IF NOT EXISTS entries (
        stream_id INTEGER NOT NULL,
        seq       INTEGER NOT NULL,
        ts        INTEGER NOT NULL,
        gpos      INTEGER NOT NULL,
        data      BLOB    NOT NULL,
        PRIMARY KEY (stream_id, seq)
      ) WITHOUT ROWID;
    `)
    const last = (db.prepare('SELECT max(seq) AS seq FROM entries').get() as { seq: number | null }).seq ?? 0
    const insert = db.prepare('INSERT INTO entries (stream_id, seq, ts, gpos, data) VALUES (?, ?, ?, ?, ?)')
    const rows = Array.from({ length: 64 }, (_, i) => mutation(i, i))
    let seq = last
    const insertBatch = db.transaction(() => {
      const ts = Date.now()
      for (let i = 0; i < batch; i++) {
        seq++
        insert.run(1, seq, ts, seq, rows[seq % rows.length])
      }
    })
    const started = performance.now()
    const deadline = started + seconds * 1000
    let inserted = 0
    while (performance.now() < deadline) {
      insertBatch()
      inserted += batch
    }
    return inserted / ((performance.now() - started) / 1000)
  } finally {
    db.close()
  }
}
