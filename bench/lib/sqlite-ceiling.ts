/**
 * The machine's ceiling for storing entries: raw better-sqlite3 inserts of the same rows into the
 * same table as the server's `entries` (its DDL is copied from `packages/server/src/db.ts`), WAL
 * with `synchronous=NORMAL` (the server's default durability), `batch` rows per transaction. No
 * HTTP, no JSON, no validation: what is left is SQLite and the disk.
 *
 * Two ways of writing them:
 * - `plain`: one row per statement run, and SQLite's own checkpoints on the writer;
 * - `tuned`: statements of 64, 16, 4 and 1 rows, largest first, and a worker thread (a connection
 *   of its own) running a `PASSIVE` checkpoint every 20 ms — the two things the server does — so
 *   the ceiling is the best raw SQLite does here, not a figure the server could pass by being
 *   cleverer than it.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import Database from 'better-sqlite3'
import { mutation } from './load.ts'

export type CeilingMode = 'plain' | 'tuned'

/** Rows per statement in `tuned` mode, largest first (as the server's `entry-writer.ts`). */
const STATEMENT_ROWS = [64, 16, 4, 1]
const CHECKPOINT_MS = 20

const CHECKPOINT_WORKER = `
const { parentPort, workerData } = require('node:worker_threads')
const db = new (require(workerData.driver))(workerData.file)
const timer = setInterval(() => { try { db.pragma('wal_checkpoint(PASSIVE)') } catch {} }, workerData.ms)
parentPort.on('message', () => { clearInterval(timer); db.close(); parentPort.close() })
`

/** Inserts batches of `batch` rows for `seconds`; returns rows per second. */
export async function sqliteCeiling(file: string, batch: number, seconds: number, mode: CeilingMode): Promise<number> {
  const db = new Database(file)
  let worker: Worker | undefined
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
    if (mode === 'tuned') {
      const driver = createRequire(import.meta.url).resolve('better-sqlite3')
      worker = new Worker(CHECKPOINT_WORKER, { eval: true, workerData: { driver, file, ms: CHECKPOINT_MS } })
      await new Promise((resolve) => worker?.once('online', resolve))
    }
    const last = (db.prepare('SELECT max(seq) AS seq FROM entries').get() as { seq: number | null }).seq ?? 0
    const insert = db.prepare('INSERT INTO entries (stream_id, seq, ts, gpos, data) VALUES (?, ?, ?, ?, ?)')
    const inserts = STATEMENT_ROWS.map((size) => ({
      size,
      statement: db.prepare(`INSERT INTO entries (stream_id, seq, ts, gpos, data) VALUES ${Array(size).fill('(?, ?, ?, ?, ?)').join(', ')}`),
      params: new Array<number | string>(size * 5),
    }))
    const rows = Array.from({ length: 64 }, (_, i) => mutation(i, i))
    let seq = last
    const insertBatch = db.transaction(() => {
      const ts = Date.now()
      let i = 0
      if (mode === 'tuned') {
        for (const { size, statement, params } of inserts) {
          for (; i + size <= batch; i += size) {
            for (let j = 0; j < size; j++) {
              seq++
              params[j * 5] = 1
              params[j * 5 + 1] = seq
              params[j * 5 + 2] = ts
              params[j * 5 + 3] = seq
              params[j * 5 + 4] = rows[seq % rows.length] as string
            }
            statement.run(params)
          }
        }
      }
      for (; i < batch; i++) {
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
    if (worker !== undefined) {
      const exited = new Promise((resolve) => worker?.once('exit', resolve))
      worker.postMessage('close')
      await exited
    }
    db.close()
  }
}
