/**
 * Group commit. Writes that arrive while the event loop is busy are gathered and run together in
 * one SQLite transaction on the next turn, each inside its own savepoint: one write that fails
 * (a rejected mutation) rolls back alone, the others commit together. Nothing is awaited inside
 * the transaction, so no other code ever sees it half done.
 */
import type Database from 'better-sqlite3'
import type { StoreEvent } from './stream-types.ts'

/** What one write job returns when its savepoint succeeds. */
export interface JobOutcome<T> {
  /** The value its caller's promise resolves with. */
  result: T
  /** Applies the job's in-memory effects; runs right after its savepoint, before the next job. */
  apply?: () => void
  /** Runs once the whole transaction is committed (notify readers). */
  afterCommit?: () => void
  /**
   * What readers are to be told of the job once it commits. An engine whose replicas learn of
   * commits from the database stores the closes and deletes among them with the job's writes.
   */
  events?: StoreEvent[]
}

interface QueuedJob {
  run: () => JobOutcome<unknown>
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/** How one job of a group ended. */
type Settled = { ok: true; outcome: JobOutcome<unknown> } | { ok: false; error: unknown }

export class WriteQueue {
  readonly #beforeCommit: () => void
  readonly #onAbort: () => void
  readonly #onCommit: (writes: number, ms: number) => void
  /**
   * One job inside the group, as a savepoint: it rolls back alone on throw. Made once: making a
   * better-sqlite3 transaction function builds four wrappers and their properties, which cost a
   * single append more than its savepoint does.
   */
  readonly #savepoint: (job: QueuedJob) => JobOutcome<unknown>
  /** The whole group, as one transaction (see `#runGroup`). */
  readonly #group: (jobs: readonly QueuedJob[], settled: Settled[]) => void
  #jobs: QueuedJob[] = []
  #scheduled = false
  #idle: Array<() => void> = []

  /**
   * @param beforeCommit runs last inside every transaction (persist counters).
   * @param onAbort runs when a whole transaction failed to commit: in-memory caches must be dropped.
   * @param onCommit runs once after every transaction that committed, with the number of writes
   *   it carried and how long it took (ms).
   */
  constructor(db: Database.Database, beforeCommit: () => void, onAbort: () => void, onCommit: (writes: number, ms: number) => void = () => {}) {
    this.#beforeCommit = beforeCommit
    this.#onAbort = onAbort
    this.#onCommit = onCommit
    this.#savepoint = db.transaction((job: QueuedJob) => job.run())
    this.#group = db.transaction((jobs: readonly QueuedJob[], settled: Settled[]) => this.#runGroup(jobs, settled))
  }

  /** Queues `run` to execute inside the next group transaction. */
  push<T>(run: () => JobOutcome<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ run, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#scheduled) {
        this.#scheduled = true
        setImmediate(() => this.#flush())
      }
    })
  }

  /** Resolves when every queued write has run. */
  drain(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  #flush(): void {
    this.#scheduled = false
    const jobs = this.#jobs
    this.#jobs = []
    const settled: Settled[] = []
    const started = performance.now()
    try {
      this.#group(jobs, settled)
    } catch (error) {
      this.#onAbort()
      for (const job of jobs) job.reject(error)
      this.#settleIdle()
      return
    }
    this.#onCommit(jobs.length, performance.now() - started)
    jobs.forEach((job, i) => {
      const result = settled[i]
      if (result === undefined) return
      if (result.ok) {
        job.resolve(result.outcome.result)
        result.outcome.afterCommit?.()
      } else {
        job.reject(result.error)
      }
    })
    this.#settleIdle()
  }

  /** Runs inside the group's transaction: each job in its own savepoint, then `beforeCommit`. */
  #runGroup(jobs: readonly QueuedJob[], settled: Settled[]): void {
    for (const job of jobs) {
      try {
        // Called inside a transaction, a better-sqlite3 transaction function is a savepoint.
        const outcome = this.#savepoint(job)
        outcome.apply?.()
        settled.push({ ok: true, outcome })
      } catch (error) {
        settled.push({ ok: false, error })
      }
    }
    this.#beforeCommit()
  }

  #settleIdle(): void {
    if (this.#scheduled) return
    const idle = this.#idle
    this.#idle = []
    for (const resolve of idle) resolve()
  }
}
