/**
 * Inserts log entries, `ROWS` per statement while they last. Each statement run has a fixed cost
 * (binding, stepping, resetting) that one row per run pays in full: raw inserts of the bench's
 * rows, 16 per statement, run about 1.4× as fast as single ones (bench/README.md).
 */
import type Database from 'better-sqlite3'
import type { StoredEntry } from './stream-types.ts'

const ROWS = 16
const COLUMNS = '(stream_id, seq, ts, gpos, data)'

export class EntryWriter {
  readonly #one
  readonly #many
  readonly #params: Array<number | string | Buffer> = new Array(ROWS * 5)

  constructor(db: Database.Database) {
    this.#one = db.prepare(`INSERT INTO entries ${COLUMNS} VALUES (?, ?, ?, ?, ?)`)
    this.#many = db.prepare(`INSERT INTO entries ${COLUMNS} VALUES ${Array(ROWS).fill('(?, ?, ?, ?, ?)').join(', ')}`)
  }

  /** Inserts `entries` of stream `id`, in the running transaction. */
  insert(id: number, entries: readonly StoredEntry[]): void {
    const params = this.#params
    let i = 0
    for (; i + ROWS <= entries.length; i += ROWS) {
      for (let j = 0; j < ROWS; j++) {
        const entry = entries[i + j] as StoredEntry
        params[j * 5] = id
        params[j * 5 + 1] = entry.seq
        params[j * 5 + 2] = entry.ts
        params[j * 5 + 3] = entry.gpos
        params[j * 5 + 4] = entry.data
      }
      this.#many.run(params)
    }
    for (; i < entries.length; i++) {
      const entry = entries[i] as StoredEntry
      this.#one.run(id, entry.seq, entry.ts, entry.gpos, entry.data)
    }
  }
}
