/**
 * Checkpoints the WAL from a worker thread, on a connection of its own, so that writes do not
 * wait for them. SQLite otherwise checkpoints inside the commit that takes the WAL past its
 * threshold: the writer copies every page back into the database file and syncs it, and each
 * write in that group waits. Here a `PASSIVE` checkpoint (it never blocks a writer, nor waits for
 * one) runs every few milliseconds on the other core, so when the writer's own automatic
 * checkpoint comes due, nearly every page has already been copied (bench/README.md: rows insert
 * about 1.3× as fast). If the worker fails or falls behind, that automatic checkpoint still does
 * the work: the WAL stays bounded either way, and no data depends on the worker.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { Durability } from './db.ts'

/** Default time between two checkpoints, ms. */
export const DEFAULT_CHECKPOINT_MS = 20

/**
 * The worker's code, as a script (so it runs the same from TypeScript sources, a build or a test
 * runner): open the file, checkpoint on a timer, close when told to.
 */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const db = new Database(workerData.file, { fileMustExist: true })
db.pragma('synchronous = ' + workerData.synchronous)
db.pragma('busy_timeout = 0')
const timer = setInterval(() => {
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
  } catch {
    // Busy or failing: the writer's own automatic checkpoint covers it.
  }
}, workerData.intervalMs)
parentPort.on('message', () => {
  clearInterval(timer)
  db.close()
  parentPort.close()
})
`

export class Checkpointer {
  readonly #worker: Worker
  readonly #exited: Promise<void>
  #closing: Promise<void> | undefined

  constructor(file: string, durability: Durability, intervalMs = DEFAULT_CHECKPOINT_MS) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file, intervalMs, synchronous: durability === 'full' ? 'FULL' : 'NORMAL' },
    })
    // It must never keep the process alive, and its failure only costs speed.
    this.#worker.unref()
    this.#worker.on('error', () => undefined)
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()))
  }

  /** Stops checkpointing and closes the worker's connection; resolves when the worker is gone. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A worker that does not answer within 2 s is stopped: it only ever reads and copies pages.
      const timer = setTimeout(() => void this.#worker.terminate(), 2000)
      this.#worker.postMessage('close')
      await this.#exited
      clearTimeout(timer)
    })()
    return this.#closing
  }
}
