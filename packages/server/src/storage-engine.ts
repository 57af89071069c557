/**
 * The storage contract: what the store (`stream-store.ts`) needs of an engine, so that one store
 * — one set of planners, one catalog, one history reader — serves every route on either engine.
 *
 * - `sqlite-engine.ts`: an SQLite file owned by one process. Reads answer at once; a group commit
 *   is one synchronous transaction.
 * - `postgres/pg-engine.ts`: a PostgreSQL database shared by any number of server processes
 *   (replicas). Reads are queries, run through pending reads (`postgres/pending-reads.ts`) so that
 *   the store's synchronous code stays the same; a group commit is one transaction holding the
 *   position lock; and what every replica commits comes back through the change feed, in commit
 *   order, to be told to this replica's live readers.
 *
 * An operation (a read, or a write job) is a synchronous function over `rows` and `log`; the
 * engine runs it (`read`, `write`) and may run it more than once, so it must be a function of
 * what it reads, and its writes go through `rows` only.
 */
import type { AppendPlan, PlannedSnapshot } from './append-plan.ts'
import type { HeadCache } from './head-states.ts'
import type { LogReader } from './log-reader.ts'
import type { ProducerRow } from './producer-fence.ts'
import type { NewStream } from './stream-rows.ts'
import type { StoredEntry, StreamRow } from './stream-types.ts'
import type { JobOutcome } from './write-queue.ts'

/** The rows a store reads and writes: streams, producers, the position. */
export interface RowStore {
  byName(name: string): StreamRow | undefined
  byId(id: number): StreamRow | undefined
  /** The streams forked from stream `id`. */
  forksOf(id: number): StreamRow[]
  /** Inserts a stream row; returns its id. */
  insert(stream: NewStream): number
  /** Stores a plan's entries, snapshots and marks, and its head, as stream `id`'s. */
  persist(id: number, plan: AppendPlan, lastStreamSeq: string | null, touchedTs: number): void
  insertSnapshot(id: number, snapshot: PlannedSnapshot): void
  /** Records a read of stream `id` at `ts` (a later time already written stays). */
  touch(id: number, ts: number): void
  /** Marks stream `id` closed (a close is a write: it restarts a `Stream-TTL` expiry). */
  close(id: number, ts: number): void
  /** Marks stream `id` deleted, its rows kept for the forks that read through them. */
  softDelete(id: number): void
  producer(id: number, producerId: string): ProducerRow | undefined
  upsertProducer(id: number, producerId: string, epoch: number, seq: number): void
  /** Removes stream `id` and every row of its. */
  purge(id: number): void
  /** The last gpos handed out, as stored (SQLite; a shared engine reads it when a group starts). */
  loadGpos(): number
  /** Stores the last gpos handed out, in the running transaction. */
  saveGpos(gpos: number): void
  /**
   * Up to `limit` stream names after `after` and at least `prefix`, below `upper` when given, in
   * byte order (the order of the names' index).
   */
  names(after: string, prefix: string, upper: string | undefined, limit: number): string[]
}

/** What a write job tells its engine about itself, so that its group can read ahead for it. */
export interface JobHints {
  /** It creates, forks or deletes streams, or purges them: it runs in a group of its own. */
  solo?: boolean
  /** The streams it looks up by name. */
  names?: readonly string[]
  /** The id of an idempotent producer of its first named stream. */
  producer?: string
}

/** An entry or a change another replica (or this one) committed, as a shared engine's feed reads it. */
export type CommittedItem =
  | { type: 'entry'; streamId: number; entry: StoredEntry; snapshot: boolean }
  | { type: 'change'; kind: 'close' | 'delete'; streamId: number; name: string; seq: number; ts: number }

/** What the store does around an engine's group commits, and with what replicas committed. */
export interface EngineHooks {
  /** A group holds the write lock; `gpos` is the last position handed out (shared engines). */
  begin(gpos: number): void
  /** Last, inside every group's transaction (TTL touches, the gpos). */
  beforeCommit(): void
  /** A group's transaction failed: in-memory state may be ahead of the database. */
  onAbort(): void
  /** A group committed, with `writes` jobs, in `ms` (from its start to its commit). */
  onCommit(writes: number, ms: number): void
  /** Shared engines: what was committed (by any replica), in commit order. */
  deliver(items: readonly CommittedItem[]): Promise<void>
}

/** Where an engine reports what goes wrong in the background (a lost connection): the server's logger. */
export interface EngineLogger {
  warn(fields: Record<string, unknown>, message: string): void
}

/** How a read runs. */
export interface ReadOptions {
  /** Every read of the operation sees one snapshot of the database (several streams at one gpos). */
  consistent?: boolean
  /** Streams the operation reads by id: a shared engine reads their rows ahead, in one query. */
  streamIds?: readonly number[]
}

/** A storage engine, as the store uses it. */
export interface StorageEngine {
  /** Other processes write the same database: nothing read is kept beyond one operation. */
  readonly shared: boolean
  readonly rows: RowStore
  readonly log: LogReader
  /** Where head states are held between operations. */
  readonly heads: HeadCache
  /** Starts taking writes (and, shared, following the feed). */
  start(hooks: EngineHooks): Promise<void>
  /** Runs a read operation. */
  read<T>(operation: () => T, options?: ReadOptions): Promise<T>
  /**
   * Inside an operation: `compute` of each item, as independent parts of it (see `parts` in
   * `postgres/pending-reads.ts`: on an engine that reruns operations, each part is worked out
   * once and their reads are fetched together); `key` names these parts within the operation.
   */
  parts<I, T>(key: string, items: readonly I[], compute: (item: I, index: number) => T): T[]
  /** Queues a write job into the next group commit. */
  write<T>(job: () => JobOutcome<T>, hints?: JobHints): Promise<T>
  /** Resolves once every write queued so far has committed or failed. */
  drain(): Promise<void>
  /**
   * Shared engines: the gpos this replica has told its readers everything up to (its feed's
   * position). `undefined`: the store's own count is the truth.
   */
  readonly visibleGpos: number | undefined
  /** Resolves once `visibleGpos` has reached `gpos` (at once for an engine that is not shared). */
  reached(gpos: number): Promise<void>
  /** Throws unless the database answers a query. */
  ping(): Promise<void>
  /** Stops; the store has drained its writes first. */
  close(): Promise<void>
}
