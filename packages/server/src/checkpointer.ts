/**
 * Checkpoints the WAL from a worker thread, on a connection of its own, so that writes do not
 * wait for them. SQLite otherwise checkpoints inside the commit that takes the WAL past its
 * threshold: the writer copies every page back into the database file and syncs it, and each
 * write in that group waits. Here a `PASSIVE` checkpoint (it never blocks a writer, nor waits for
 * one) runs on the other core while commits come in — every few milliseconds under a heavy load,
 * less often under a light one (`MAX_INTERVAL_FACTOR`) — so when the writer's own automatic
 * checkpoint comes due, nearly every page has already been copied (bench/README.md: rows insert
 * about 1.3× as fast). If the worker fails or falls behind, that automatic checkpoint still does
 * the work: the WAL stays bounded either way, and no data depends on the worker.
 */
import { createRequire } from 'node:module'
import { Worker } from 'node:worker_threads'
import type { Durability } from './db.ts'

/** Default time between two checkpoints, ms: the shortest, while commits bring many pages. */
export const DEFAULT_CHECKPOINT_MS = 20

/**
 * The time between two checkpoints grows (doubling, up to this many times the shortest) while
 * each finds fewer than `FEW_FRAMES` new pages in the WAL, and is the shortest again as soon as
 * one finds more than `MANY_FRAMES` (or finds that the writer had to checkpoint itself). Every
 * checkpoint that copies pages syncs the database file, and the commits meanwhile take longer: at
 * 50 commits of 4 KiB a second, a checkpoint every 20 ms (after nearly every commit) made the
 * median commit 0.95 ms and its p99 1.5–2.0 ms, against 0.53 and 1.1–1.2 ms so (alternating runs
 * of 600 commits). A light load then checkpoints every 32–256 pages, far below the 1,000 at which
 * the writer would checkpoint itself; a heavy one every 20 ms as before (8 concurrent batches of
 * 100 entries: 215–289k entries/s before, 212–274k so, alternating runs: no difference beyond the
 * machine's noise).
 */
const MAX_INTERVAL_FACTOR = 16
const FEW_FRAMES = 32
const MANY_FRAMES = 256

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
let interval = workerData.intervalMs
// Pages in the WAL at the last checkpoint (it starts over from 0 once a writer restarts it), and
// whether that checkpoint copied them all (else only the writer's own checkpoint restarts it).
let logged = 0
let complete = true
while (Atomics.load(shared, ${CLOSING}) === 0) {
  Atomics.wait(shared, ${COMMITS}, seen)
  if (Atomics.load(shared, ${CLOSING}) !== 0) break
  seen = Atomics.load(shared, ${COMMITS})
  try {
    const { log, checkpointed } = db.pragma('wal_checkpoint(PASSIVE)')[0]
    // After a checkpoint that copied everything the next commit starts the WAL over.
    const frames = complete ? log : log >= logged ? log - logged : Infinity
    logged = log
    complete = checkpointed === log
    if (frames < ${FEW_FRAMES}) interval = Math.min(workerData.intervalMs * ${MAX_INTERVAL_FACTOR}, interval * 2)
    else if (frames > ${MANY_FRAMES}) interval = workerData.intervalMs
    Atomics.add(shared, ${CHECKPOINTS}, 1)
  } catch {
    // Busy or failing: the writer's own automatic checkpoint covers it.
  }
  Atomics.store(shared, ${COVERED}, seen)
  Atomics.wait(shared, ${CLOSING}, 0, interval)
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
