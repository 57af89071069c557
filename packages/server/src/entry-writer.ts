/**
 * Inserts log entries with as few statement runs as it can: each run has a fixed cost (binding,
 * stepping, resetting) that one row per run pays in full. Rows go in through statements of 64,
 * 16, 4 and 1 rows, largest first (a batch of 100: 64 + 16 + 16 + 4). Raw inserts of the bench's
 * rows, 100 per transaction, ran at about 236k rows/s 16 per statement and 280k with 64
 * (bench/README.md).
 */
import type Database from 'better-sqlite3'
import type { StoredEntry } from './stream-types.ts'

/** Rows per statement, largest first; the last is 1 so that any count can be written. */
const SIZES = [64, 16, 4, 1] as const
const COLUMNS = '(stream_id, seq, ts, gpos, data)'

interface Insert {
  rows: number
  statement: Database.Statement
  params: Array<number | string | Buffer>
}

export class EntryWriter {
  readonly #inserts: Insert[]

  constructor(db: Database.Database) {
    this.#inserts = SIZES.map((rows) => ({
      rows,
      statement: db.prepare(`INSERT INTO entries ${COLUMNS} VALUES ${Array(rows).fill('(?, ?, ?, ?, ?)').join(', ')}`),
      params: new Array(rows * 5),
    }))
  }

  /** Inserts `entries` of stream `id`, in the running transaction. */
  insert(id: number, entries: readonly StoredEntry[]): void {
    let i = 0
    for (const { rows, statement, params } of this.#inserts) {
      for (; i + rows <= entries.length; i += rows) {
        for (let j = 0; j < rows; j++) {
          const entry = entries[i + j] as StoredEntry
          params[j * 5] = id
          params[j * 5 + 1] = entry.seq
          params[j * 5 + 2] = entry.ts
          params[j * 5 + 3] = entry.gpos
          params[j * 5 + 4] = entry.data
        }
        statement.run(params)
      }
    }
  }
}
