/**
 * The SQLite engine: one file (or memory) owned by this process. Reads answer at once, so an
 * operation runs exactly once; writes go through the group-commit queue (`write-queue.ts`); the
 * WAL is checkpointed off the writer (`checkpointer.ts`). The store keeps the global position in
 * memory and writes it with each commit.
 */
import type Database from 'better-sqlite3'
import { Checkpointer, DEFAULT_CHECKPOINT_MS } from './checkpointer.ts'
import { openDatabase } from './db.ts'
import { lockStoreFile, openFailure } from './store-file.ts'
import type { Durability } from './db.ts'
import { HeadStates } from './head-states.ts'
import { LogReader, sqliteLogStatements } from './log-reader.ts'
import type { EngineHooks, ReadOptions, StorageEngine } from './storage-engine.ts'
import { StreamRows } from './stream-rows.ts'
import { WriteQueue } from './write-queue.ts'
import type { JobOutcome } from './write-queue.ts'

/** Options of the SQLite engine. */
export interface SqliteEngineOptions {
  /** The database file; `:memory:` keeps everything in memory. */
  file: string
  durability?: Durability
  /** See `Checkpointer`; 0 leaves checkpoints to the writer. */
  checkpointMs?: number
  /** Budget of the head-state cache, in bytes of JSON text. */
  stateCacheBytes: number
}

export class SqliteEngine implements StorageEngine {
  readonly shared = false
  readonly visibleGpos = undefined
  readonly rows: StreamRows
  readonly log: LogReader
  readonly heads: HeadStates
  /** The open database (for modules that read it directly). */
  readonly db: Database.Database
  readonly #checkpointer: Checkpointer | undefined
  readonly #unlock: () => void
  #queue: WriteQueue | undefined

  constructor(options: SqliteEngineOptions) {
    const file = options.file
    // A file is locked before it is opened (see store-file.ts): a second server writes nothing.
    this.#unlock = file === ':memory:' || file === '' ? () => {} : lockStoreFile(file)
    try {
      this.db = openDatabase(file, options.durability)
    } catch (error) {
      this.#unlock()
      throw openFailure(file, error)
    }
    const checkpointMs = options.checkpointMs ?? DEFAULT_CHECKPOINT_MS
    if (checkpointMs > 0 && file !== '' && !this.db.memory) this.#checkpointer = new Checkpointer(file, options.durability ?? 'normal', checkpointMs)
    this.rows = new StreamRows(this.db)
    this.log = new LogReader(sqliteLogStatements(this.db))
    this.heads = new HeadStates(options.stateCacheBytes)
  }

  start(hooks: EngineHooks): Promise<void> {
    this.#queue = new WriteQueue(
      this.db,
      () => hooks.beforeCommit(),
      () => hooks.onAbort(),
      (writes, ms) => {
        // The checkpoint worker sleeps until there is something to copy.
        this.#checkpointer?.committed()
        hooks.onCommit(writes, ms)
      },
    )
    return Promise.resolve()
  }

  async read<T>(operation: () => T, _options?: ReadOptions): Promise<T> {
    return operation()
  }

  /** An operation runs once here: its parts are just run. */
  parts<I, T>(_key: string, items: readonly I[], compute: (item: I, index: number) => T): T[] {
    return items.map(compute)
  }

  write<T>(job: () => JobOutcome<T>): Promise<T> {
    if (this.#queue === undefined) return Promise.reject(new Error('the engine has not started'))
    return this.#queue.push(job)
  }

  drain(): Promise<void> {
    return this.#queue?.drain() ?? Promise.resolve()
  }

  reached(): Promise<void> {
    return Promise.resolve()
  }

  async ping(): Promise<void> {
    this.rows.loadGpos()
  }

  async close(): Promise<void> {
    // The worker's connection first: the last one to close checkpoints and removes the WAL.
    await this.#checkpointer?.close()
    this.db.close()
    this.#unlock()
  }
}
