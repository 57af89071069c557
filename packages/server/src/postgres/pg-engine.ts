/**
 * The PostgreSQL engine: the store on a database that any number of server processes share.
 *
 * - Reads are queries on a pool, each operation in a scope of its own (`pending-reads.ts`); a
 *   `consistent` read runs in one REPEATABLE READ transaction (one snapshot, at one gpos).
 * - Writes are group commits (`pg-write-queue.ts`), one at a time per replica, each holding the
 *   position lock: replicas' writes are serialised there, and positions follow commit order.
 * - What any replica commits reaches this replica's readers through the feed (`pg-feed.ts`),
 *   including this replica's own commits, so that every reader everywhere sees one order.
 * - Head states are held between operations only with the seq they are the state after; those a
 *   group sets are held for the group alone until it commits.
 */
import pg from 'pg'
import { HeadStates } from '../head-states.ts'
import type { HeadCache, HeldHead } from '../head-states.ts'
import { LogReader } from '../log-reader.ts'
import type { EngineHooks, EngineLogger, JobHints, ReadOptions, StorageEngine } from '../storage-engine.ts'
import type { JobOutcome } from '../write-queue.ts'
import { ReadScope, activeScope, parts, runPending } from './pending-reads.ts'
import { checkout, clientConfig } from './pg-connection.ts'
import type { Lease } from './pg-connection.ts'
import { isUnavailable, readFailure } from './pg-failures.ts'
import { redact, resolvePostgresOptions } from './pg-options.ts'
import type { PostgresOptions } from './pg-options.ts'
import { PgFeed } from './pg-feed.ts'
import { pgLogStatements } from './pg-log-statements.ts'
import { queryOf } from './pg-query.ts'
import { PgRows, streamRowOf } from './pg-rows.ts'
import type { PgStreamRow } from './pg-rows.ts'
import { migrate, quoteIdentifier } from './pg-schema.ts'
import { PgWriteQueue } from './pg-write-queue.ts'
import { WriteScope } from './write-scope.ts'

/** A PostgreSQL store that cannot be opened; its message says why in one line, without the password. */
export class PostgresStoreError extends Error {
  override name = 'PostgresStoreError'
}

/** How long `/ready`'s query may take before the store counts as not answering, in ms. */
const PING_TIMEOUT_MS = 5_000

const SILENT: EngineLogger = { warn: () => {} }

export class PostgresEngine implements StorageEngine {
  readonly shared = true
  readonly rows = new PgRows()
  readonly log = new LogReader(pgLogStatements())
  readonly heads: GroupHeads
  readonly #pool: pg.Pool
  readonly #config: pg.ClientConfig
  /** The NOTIFY channel of this store's schema. */
  readonly #channel: string
  #queue: PgWriteQueue | undefined
  #feed: PgFeed | undefined

  readonly #logger: EngineLogger

  private constructor(pool: pg.Pool, config: pg.ClientConfig, schema: string, stateCacheBytes: number, logger: EngineLogger) {
    this.#pool = pool
    this.#config = config
    this.#logger = logger
    this.#channel = `statestream_${schema}`
    this.heads = new GroupHeads(stateCacheBytes)
  }

  /** Connects to the database and migrates its schema. */
  static async open(options: PostgresOptions, stateCacheBytes: number, logger: EngineLogger = SILENT): Promise<PostgresEngine> {
    let resolved: Required<PostgresOptions>
    try {
      resolved = resolvePostgresOptions(options)
    } catch (error) {
      throw new PostgresStoreError((error as Error).message)
    }
    const config = clientConfig(resolved)
    // Idle connections stay open (no idle timeout): a server's load comes back, and reconnecting
    // costs more than an open connection does.
    const pool = new pg.Pool({ ...config, max: resolved.poolSize, idleTimeoutMillis: 0, pipeline: true } as pg.PoolConfig)
    // An idle client that loses its connection must not crash the process: the pool drops it, and
    // the next query connects again.
    pool.on('error', (error) => logger.warn({ err: error }, 'an idle PostgreSQL connection was lost'))
    try {
      const lease = await checkout(pool)
      try {
        await migrate(lease.client, resolved.schema)
        lease.release()
      } catch (error) {
        lease.release(error)
        throw error
      }
    } catch (error) {
      await pool.end().catch(() => {})
      const reason = (error as Error).message || String((error as { code?: unknown }).code ?? error)
      throw new PostgresStoreError(`cannot open the PostgreSQL store at ${redact(resolved.url)} (schema ${resolved.schema}): ${reason}`, { cause: error })
    }
    return new PostgresEngine(pool, config, resolved.schema, stateCacheBytes, logger)
  }

  async start(hooks: EngineHooks): Promise<void> {
    this.#queue = new PgWriteQueue(this.#pool, this.#channel, {
      begin: (gpos) => hooks.begin(gpos),
      beforeCommit: () => hooks.beforeCommit(),
      onAbort: () => hooks.onAbort(),
      onCommit: (scope, writes, ms) => {
        this.heads.publish(scope.heads)
        hooks.onCommit(writes, ms)
        // Our own commit comes back through the feed, in its place among every replica's.
        this.#feed?.poke()
      },
    })
    this.#feed = new PgFeed(
      this.#config,
      this.#pool,
      quoteIdentifier(this.#channel),
      (items) => hooks.deliver(items),
      (error, what) => this.#logger.warn({ err: error }, `the change feed ${what}; it retries`),
    )
    await this.#feed.start()
  }

  get visibleGpos(): number {
    return this.#feed?.position.gpos ?? 0
  }

  reached(gpos: number): Promise<void> {
    return this.#feed?.reached(gpos) ?? Promise.resolve()
  }

  async read<T>(operation: () => T, options: ReadOptions = {}): Promise<T> {
    if (options.consistent !== true) {
      try {
        const scope = new ReadScope(queryOf(this.#pool))
        if (options.streamIds !== undefined && options.streamIds.length > 0) await this.#prefetch(scope, options.streamIds)
        return await runPending(scope, operation)
      } catch (error) {
        throw readFailure(error)
      }
    }
    let lease: Lease
    try {
      lease = await checkout(this.#pool)
    } catch (error) {
      throw readFailure(error)
    }
    const client = lease.client
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
      const result = await runPending(new ReadScope(queryOf(client)), operation)
      await client.query('COMMIT')
      lease.release()
      return result
    } catch (error) {
      // The operation's own error (a stream not found, say) leaves a healthy connection to reuse;
      // one the database failed is dropped.
      if (lease.lost === undefined && !isUnavailable(error)) {
        const rolledBack = await client.query('ROLLBACK').then(
          () => true,
          () => false,
        )
        lease.release(rolledBack ? undefined : error)
      } else {
        lease.release(error)
      }
      throw readFailure(error)
    }
  }

  parts<I, T>(key: string, items: readonly I[], compute: (item: I, index: number) => T): T[] {
    return parts(key, items, compute)
  }

  write<T>(job: () => JobOutcome<T>, hints?: JobHints): Promise<T> {
    if (this.#queue === undefined) return Promise.reject(new Error('the engine has not started'))
    return this.#queue.push(job, hints)
  }

  drain(): Promise<void> {
    return this.#queue?.drain() ?? Promise.resolve()
  }

  /** Rejects unless the database answers within `PING_TIMEOUT_MS` (a probe must answer promptly). */
  async ping(): Promise<void> {
    let timer: NodeJS.Timeout | undefined
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the database did not answer within ${PING_TIMEOUT_MS} ms`)), PING_TIMEOUT_MS)
    })
    // A query that answers late is dropped by the driver (its connection with it).
    const query = this.#pool.query({ text: 'SELECT 1', query_timeout: PING_TIMEOUT_MS } as pg.QueryConfig)
    query.catch(() => {})
    try {
      await Promise.race([query, late])
    } finally {
      clearTimeout(timer)
    }
  }

  async close(): Promise<void> {
    await this.#feed?.close()
    await this.#pool.end()
  }

  /** Reads the rows of `ids` in one query, as the answers of the scope's lookups by id. */
  async #prefetch(scope: ReadScope, ids: readonly number[]): Promise<void> {
    const result = await this.#pool.query<PgStreamRow>('SELECT * FROM streams WHERE id = ANY($1)', [ids])
    PgRows.prefetched(scope, result.rows.map(streamRowOf), ids)
  }
}

/**
 * Head states: those held for everyone (each with its seq, so a replica never uses one another
 * replica's append has passed), and, inside a group commit, those its jobs set, held for the group
 * until it commits (a group that fails must leave nothing held).
 */
class GroupHeads implements HeadCache {
  readonly #held: HeadStates

  constructor(maxBytes: number) {
    this.#held = new HeadStates(maxBytes)
  }

  get(id: number): HeldHead | undefined {
    const scope = activeScope()
    if (scope instanceof WriteScope && scope.heads.has(id)) return scope.heads.get(id)
    return this.#held.get(id)
  }

  set(id: number, head: HeldHead): void {
    const scope = activeScope()
    if (scope instanceof WriteScope) scope.setHead(id, head)
    else this.#held.set(id, head)
  }

  delete(id: number): void {
    const scope = activeScope()
    if (scope instanceof WriteScope) scope.deleteHead(id)
    this.#held.delete(id)
  }

  clear(): void {
    this.#held.clear()
  }

  /** A group committed: the heads it set are everyone's now. */
  publish(heads: ReadonlyMap<number, HeldHead>): void {
    for (const [id, head] of heads) this.#held.set(id, head)
  }

  get bytes(): number {
    return this.#held.bytes
  }

  get size(): number {
    return this.#held.size
  }
}
