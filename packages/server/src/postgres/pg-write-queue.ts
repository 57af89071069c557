/**
 * Group commit on PostgreSQL. Writes that arrive while a group is running wait for the next one;
 * each group is one transaction on one connection:
 *
 *   BEGIN; SELECT … FROM position FOR UPDATE; the streams and producers the jobs name   (1 round trip)
 *   each job, in order, run over the group's scope (one more round trip per read it misses)
 *   the group's writes as a handful of array statements; NOTIFY; COMMIT               (1 round trip)
 *
 * The position row's lock is the replicas' agreement: every write transaction takes it first,
 * so they run one at a time, and a group's positions (gpos) follow the last committed group's.
 * Positions are handed out in commit order, without gaps, and a reader that sees position G has
 * seen everything below it (see the server README, "Replicas"). Within the group, as on SQLite,
 * a job that fails leaves no trace (its scope's changes are undone) and the others commit.
 *
 * Jobs that create or delete streams run alone in their group: they read logs that an earlier
 * job could have written (a fork's source), and purge rows.
 */
import pg from 'pg'
import type { JobHints } from '../storage-engine.ts'
import type { JobOutcome } from '../write-queue.ts'
import type { StoreEvent } from '../stream-types.ts'
import { runOnce } from './pending-reads.ts'
import { checkout } from './pg-connection.ts'
import type { Lease } from './pg-connection.ts'
import { notStored, outcomeUnknown } from './pg-failures.ts'
import { flushStatements } from './pg-flush.ts'
import type { Statement } from './pg-flush.ts'
import { queryOf } from './pg-query.ts'
import { streamRowOf } from './pg-rows.ts'
import type { PgStreamRow } from './pg-rows.ts'
import { Defer, WriteScope, producerKey } from './write-scope.ts'

/** What the store does around each group. */
export interface GroupHooks {
  /** The group holds the lock: `gpos` is the last position handed out. */
  begin(gpos: number): void
  /** Last, inside the transaction (the store writes its TTL touches and its gpos). */
  beforeCommit(): void
  /** The transaction failed: in-memory state may be ahead of the database. */
  onAbort(): void
  /**
   * The transaction committed, with `writes` jobs, in `ms` from its start (`scope` holds what its
   * jobs set, head states among it).
   */
  onCommit(scope: WriteScope, writes: number, ms: number): void
}

interface QueuedJob {
  run: () => JobOutcome<unknown>
  hints: JobHints
  resolve: (value: unknown) => void
  reject: (error: unknown) => void
}

/** Most jobs in one group (their writes travel in one round trip). */
const MAX_GROUP = 1000

export class PgWriteQueue {
  readonly #pool: pg.Pool
  readonly #channel: string
  readonly #hooks: GroupHooks
  #jobs: QueuedJob[] = []
  #running = false
  #idle: Array<() => void> = []

  constructor(pool: pg.Pool, channel: string, hooks: GroupHooks) {
    this.#pool = pool
    this.#channel = channel
    this.#hooks = hooks
  }

  /** Queues `run` into the next group. */
  push<T>(run: () => JobOutcome<T>, hints: JobHints = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#jobs.push({ run, hints, resolve: resolve as (value: unknown) => void, reject })
      if (!this.#running) {
        this.#running = true
        // Like SQLite's queue: writes arriving in the same turn share a group.
        setImmediate(() => void this.#drainJobs())
      }
    })
  }

  /** Resolves when every queued write has run. */
  drain(): Promise<void> {
    if (!this.#running) return Promise.resolve()
    return new Promise((resolve) => this.#idle.push(resolve))
  }

  async #drainJobs(): Promise<void> {
    while (this.#jobs.length > 0) {
      const group = this.#takeGroup()
      await this.#runGroup(group)
    }
    this.#running = false
    for (const resolve of this.#idle.splice(0)) resolve()
  }

  /** The next group: one solo job alone, or the jobs up to the next solo one. */
  #takeGroup(): QueuedJob[] {
    const first = this.#jobs[0] as QueuedJob
    if (first.hints.solo === true) return this.#jobs.splice(0, 1)
    let end = 1
    while (end < this.#jobs.length && end < MAX_GROUP && this.#jobs[end]?.hints.solo !== true) end += 1
    return this.#jobs.splice(0, end)
  }

  /**
   * Runs `jobs` as one transaction. Whatever fails, every job is answered or queued again: a job
   * that ran to its outcome fails with the group (its writes were the group's); the job running
   * when the group failed fails too (its read may be what failed); jobs that never ran (those put
   * off, those after the failure) go first into the next group.
   */
  async #runGroup(jobs: QueuedJob[]): Promise<void> {
    let lease: Lease
    try {
      lease = await checkout(this.#pool)
    } catch (error) {
      for (const job of jobs) job.reject(notStored(error))
      return
    }
    const client = lease.client
    const started = performance.now()
    const settled: Array<{ job: QueuedJob; outcome: JobOutcome<unknown> }> = []
    const deferred: QueuedJob[] = []
    let scope: WriteScope | undefined
    /** Jobs taken so far, the one running now among them. */
    let taken = 0
    /** Jobs that failed on their own (answered already). */
    const rejected = new Set<QueuedJob>()
    let unknown = false
    try {
      scope = await this.#begin(client, jobs)
      this.#hooks.begin(scope.baseGpos)
      for (const job of jobs) {
        taken += 1
        const result = await this.#runJob(scope, job, settled.length === 0 && deferred.length === 0)
        if (result === 'deferred') deferred.push(job)
        else if (result.ok) settled.push({ job, outcome: result.outcome })
        else {
          rejected.add(job)
          job.reject(result.error)
        }
      }
      const last = runOnce(scope, () => this.#hooks.beforeCommit())
      if (!('value' in last)) throw new Error('the commit hook read what the group had not')
      const end = await commit(client, [...flushStatements(scope, this.#channel), { sql: 'COMMIT', params: [] }])
      if (end.outcome !== 'committed') {
        unknown = end.outcome === 'unknown'
        throw end.error
      }
    } catch (error) {
      // Never reused: a connection that failed, or whose transaction is in an unknown state, is
      // dropped (and with it the transaction and its lock).
      lease.release(error instanceof Error ? error : new Error('the group failed'))
      this.#hooks.onAbort()
      if (taken === 0) {
        // BEGIN, the lock or the rows read ahead failed: nothing ran.
        for (const job of jobs) job.reject(notStored(error))
        return
      }
      const failure = unknown ? outcomeUnknown(error) : notStored(error)
      for (const { job } of settled) job.reject(failure)
      const running = jobs[taken - 1] as QueuedJob
      const answered = settled.some((done) => done.job === running) || deferred.includes(running) || rejected.has(running)
      if (!answered) running.reject(notStored(error))
      this.#jobs.unshift(...deferred, ...jobs.slice(taken))
      return
    }
    lease.release()
    this.#hooks.onCommit(scope, jobs.length, performance.now() - started)
    this.#jobs.unshift(...deferred)
    for (const { job, outcome } of settled) job.resolve(outcome.result)
  }

  /** BEGIN, the position lock, and the rows the jobs name, in one round trip. */
  async #begin(client: pg.PoolClient, jobs: readonly QueuedJob[]): Promise<WriteScope> {
    const names = [...new Set(jobs.flatMap((job) => job.hints.names ?? []))]
    const producerNames: string[] = []
    const producerIds: string[] = []
    for (const job of jobs) {
      const name = job.hints.names?.[0]
      if (name !== undefined && job.hints.producer !== undefined) {
        producerNames.push(name)
        producerIds.push(job.hints.producer)
      }
    }
    const [, position, streams, producers] = await Promise.all([
      client.query('BEGIN'),
      client.query<{ gpos: number; csn: number }>('SELECT gpos, csn FROM position FOR UPDATE'),
      client.query<PgStreamRow>('SELECT * FROM streams WHERE name = ANY($1)', [names]),
      client.query<{ stream_id: number; producer_id: string; epoch: number; last_seq: number }>(
        `SELECT p.* FROM producers p JOIN streams s ON s.id = p.stream_id
          JOIN unnest($1::text[], $2::text[]) AS w(name, producer_id) ON w.name = s.name AND w.producer_id = p.producer_id`,
        [producerNames, producerIds],
      ),
    ])
    const base = position.rows[0]
    if (base === undefined) throw new Error('the position row is missing')
    const scope = new WriteScope(queryOf(client), base)
    const byName = new Map(streams.rows.map((row) => [row.name, streamRowOf(row)]))
    for (const name of names) scope.set(`stream:${name}`, byName.get(name))
    const found = new Map(producers.rows.map((row) => [producerKey(row.stream_id, row.producer_id), { epoch: row.epoch, last_seq: row.last_seq }]))
    for (let i = 0; i < producerNames.length; i++) {
      const row = byName.get(producerNames[i] as string)
      if (row === undefined) continue
      const key = producerKey(row.id, producerIds[i] as string)
      scope.set(`producer:${key}`, found.get(key))
    }
    return scope
  }

  /**
   * Runs one job in the group's scope until it needs nothing more: its outcome, its error, or
   * `deferred` when it must wait for this group to commit.
   */
  async #runJob(
    scope: WriteScope,
    job: QueuedJob,
    first: boolean,
  ): Promise<'deferred' | { ok: true; outcome: JobOutcome<unknown> } | { ok: false; error: unknown }> {
    for (;;) {
      scope.beginJob()
      let step: ReturnType<typeof runOnce<JobOutcome<unknown>>>
      try {
        step = runOnce(scope, job.run)
      } catch (error) {
        scope.endJob(false)
        if (error instanceof Defer && !first) return 'deferred'
        return { ok: false, error }
      }
      if ('value' in step) {
        const outcome = step.value
        const applied = runOnce(scope, () => {
          outcome.apply?.()
          for (const event of outcome.events ?? []) recordChange(scope, event)
        })
        if (!('value' in applied)) {
          scope.endJob(false)
          return { ok: false, error: new Error('a job applied what it had not read') }
        }
        scope.endJob(true)
        return { ok: true, outcome }
      }
      scope.endJob(false)
      await step.fetch()
    }
  }
}

/** A close or delete becomes a row of the change feed, in the order of the group's entries. */
function recordChange(scope: WriteScope, event: StoreEvent): void {
  if (event.type === 'close') scope.addChange({ kind: 'close', streamId: event.stream.id, name: event.stream.name, bound: event.bound })
  else if (event.type === 'delete') {
    scope.addChange({ kind: 'delete', streamId: event.stream.id, name: event.stream.name, bound: { seq: event.stream.headSeq, ts: event.stream.headTs } })
  }
}

/** How a group's last round trip ended: committed, rolled back, or unknown (its answer was lost). */
type Commit = { outcome: 'committed' } | { outcome: 'aborted' | 'unknown'; error: unknown }

/**
 * Sends every statement, COMMIT last, at once (one round trip) and waits for all. Rolled back when
 * the database answered a statement with an error (that ends the transaction: a COMMIT after it
 * rolls back), or COMMIT itself with an error; unknown when the connection was lost first, or
 * ended (FATAL) in COMMIT's place: the commit may have happened before the answer was lost.
 */
async function commit(client: pg.PoolClient, statements: readonly Statement[]): Promise<Commit> {
  const results = await Promise.allSettled(statements.map((statement) => client.query(statement.sql, statement.params)))
  const last = results.length - 1
  const failed = results.findIndex((result) => result.status === 'rejected')
  if (failed === -1) {
    const end = results[last] as PromiseFulfilledResult<pg.QueryResult>
    return end.value.command === 'COMMIT' ? { outcome: 'committed' } : { outcome: 'aborted', error: new Error(`COMMIT answered ${end.value.command}`) }
  }
  const error = (results[failed] as PromiseRejectedResult).reason as unknown
  const answered = error instanceof pg.DatabaseError && (failed < last || error.severity === 'ERROR')
  return { outcome: answered ? 'aborted' : 'unknown', error }
}
