/**
 * Checkpoints the WAL from a worker thread, on a connection of its own, so that writes do not
 * wait for them. SQLite otherwise checkpoints inside the commit that takes the WAL past its
 * threshold: the writer copies every page back into the database file and syncs it, and each
 * write in that group waits. Here a `PASSIVE` checkpoint (it never blocks a writer, nor waits for
 * one) runs on the other core at most every few milliseconds while commits come in, so when the writer's own automatic
 * checkpoint comes due, nearly every page has already been copied (bench/README.md: rows insert
 * about 1.3× as fast). If the worker fails or falls behind, that automatic checkpoint still does
 * the work: the WAL stays bounded either way, and no data depends on the worker.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { Durability } from './db.ts'

/** Default time between two checkpoints, ms. */
export const DEFAULT_CHECKPOINT_MS = 20

/** Slots of the buffer the store and the worker share (`Int32Array`). */
const COMMITS = 0
const CLOSING = 1
const CHECKPOINTS = 2
/** The commit count the worker's last checkpoint covered. */
const COVERED = 3

/**
 * The worker's code, as a script (so it runs the same from TypeScript sources, a build or a test
 * runner). It sleeps until the store counts a commit, checkpoints, then waits the interval before
 * looking again: under load one checkpoint per interval, idle none, and no timer at all.
 */
const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads')
const Database = require(workerData.driver)
const shared = new Int32Array(workerData.shared)
const db = new Database(workerData.file, { fileMustExist: true })
db.pragma('synchronous = ' + workerData.synchronous)
db.pragma('busy_timeout = 0')
let seen = 0
while (Atomics.load(shared, ${CLOSING}) === 0) {
  Atomics.wait(shared, ${COMMITS}, seen)
  if (Atomics.load(shared, ${CLOSING}) !== 0) break
  seen = Atomics.load(shared, ${COMMITS})
  try {
    db.pragma('wal_checkpoint(PASSIVE)')
    Atomics.add(shared, ${CHECKPOINTS}, 1)
  } catch {
    // Busy or failing: the writer's own automatic checkpoint covers it.
  }
  Atomics.store(shared, ${COVERED}, seen)
  Atomics.wait(shared, ${CLOSING}, 0, workerData.intervalMs)
}
db.close()
`

export class Checkpointer {
  readonly #worker: Worker
  readonly #shared = new Int32Array(new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT))
  readonly #exited: Promise<void>
  #closing: Promise<void> | undefined

  constructor(file: string, durability: Durability, intervalMs = DEFAULT_CHECKPOINT_MS) {
    const driver = createRequire(import.meta.url).resolve('better-sqlite3')
    this.#worker = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: { driver, file, intervalMs, shared: this.#shared.buffer, synchronous: durability === 'full' ? 'FULL' : 'NORMAL' },
    })
    // It must never keep the process alive, and its failure only costs speed.
    this.#worker.unref()
    this.#worker.on('error', () => undefined)
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()))
  }

  /** Checkpoints the worker has run so far. */
  get checkpoints(): number {
    return Atomics.load(this.#shared, CHECKPOINTS)
  }

  /** True once the worker has checkpointed after the last commit it was told of (it then sleeps). */
  get caughtUp(): boolean {
    return Atomics.load(this.#shared, COVERED) === Atomics.load(this.#shared, COMMITS)
  }

  /** Tells the worker a transaction committed (a few nanoseconds: no message, no timer). */
  committed(): void {
    Atomics.add(this.#shared, COMMITS, 1)
    Atomics.notify(this.#shared, COMMITS)
  }

  /** Stops checkpointing and closes the worker's connection; resolves when the worker is gone. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      // A worker that does not stop within 2 s is terminated: it only ever reads and copies pages.
      const timer = setTimeout(() => void this.#worker.terminate(), 2000)
      Atomics.store(this.#shared, CLOSING, 1)
      Atomics.notify(this.#shared, COMMITS)
      Atomics.notify(this.#shared, CLOSING)
      await this.#exited
      clearTimeout(timer)
    })()
    return this.#closing
  }
}
