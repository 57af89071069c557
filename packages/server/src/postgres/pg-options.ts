/**
 * The options that name a PostgreSQL store, and their validation (no driver here: the package's
 * public types name these, and must not need the driver's).
 */
import { quote } from '@statestream/common'

/** Where a PostgreSQL store lives. */
export interface PostgresOptions {
  /** A `postgres://` (or `postgresql://`) connection URL. */
  url: string
  /**
   * The schema holding the store's tables, created if missing. Several stores may share one
   * database in schemas of their own. Lower-case letters, digits and `_`, not starting with a
   * digit, at most 50 characters (`SCHEMA_NAME_RULE`). Default `public`.
   */
  schema?: string
  /** Most connections the store's pool opens (besides the one that listens for commits). Default 10. */
  poolSize?: number
  /**
   * A statement without its answer for this long, ms, is given up: its connection is presumed
   * dead (a database or network gone silent) and discarded, and the request answers `503
   * STORE_UNAVAILABLE`. Longer than the lock and idle-transaction timeouts (30 s by default), which
   * end the slow cases the database itself can see. Default 60,000.
   */
  queryTimeoutMs?: number
  /**
   * A write that waits this long, ms, for the position lock (held by another replica's group, or
   * by anything else holding that row) gives up: `503 STORE_UNAVAILABLE`, nothing stored, instead
   * of queueing behind a stuck writer. Keep it below `queryTimeoutMs`: past that, the statement
   * is given up first and its connection discarded. Default 30,000.
   */
  lockTimeoutMs?: number
}

/** The default `queryTimeoutMs`. */
export const DEFAULT_PG_QUERY_TIMEOUT_MS = 60_000

/** The default `lockTimeoutMs`. */
export const DEFAULT_PG_LOCK_TIMEOUT_MS = 30_000

/** The default schema. */
export const DEFAULT_PG_SCHEMA = 'public'

/**
 * What a schema may be called. Lower case: the store's connections name it unquoted, and
 * PostgreSQL folds an unquoted name to lower case. At most 50 characters: its commit channel,
 * `statestream_<schema>`, must fit PostgreSQL's 63-byte names.
 */
const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,49}$/

/** `SCHEMA_NAME` in words, for messages. */
export const SCHEMA_NAME_RULE = 'lower-case letters, digits and _ (not starting with a digit), at most 50 characters'

/** Why `schema` cannot name a store's schema (`must be …`), or `undefined` when it can. */
export function schemaNameProblem(schema: string): string | undefined {
  if (SCHEMA_NAME.test(schema)) return undefined
  const lower = schema.toLowerCase()
  const hint =
    lower !== schema && SCHEMA_NAME.test(lower)
      ? ` (schema names are lower case: "${lower}")`
      : /^[a-z_][a-z0-9_]*$/.test(lower)
        ? ` (${schema.length} characters)`
        : ''
  return `must be ${SCHEMA_NAME_RULE}, got ${quote(schema)}${hint}`
}

/** True when `store` names a PostgreSQL database (a `postgres://` or `postgresql://` URL). */
export function isPostgresUrl(store: string): boolean {
  return /^postgres(ql)?:\/\//i.test(store)
}

/** The options with defaults filled in; throws a clear error for a bad URL or schema name. */
export function resolvePostgresOptions(options: PostgresOptions): Required<PostgresOptions> {
  if (!isPostgresUrl(options.url)) throw new Error(`a PostgreSQL store needs a postgres:// URL, got "${redact(options.url)}"`)
  try {
    new URL(options.url)
  } catch {
    throw new Error(`"${redact(options.url)}" is not a valid URL`)
  }
  const schema = options.schema ?? DEFAULT_PG_SCHEMA
  const problem = schemaNameProblem(schema)
  if (problem !== undefined) throw new Error(`the PostgreSQL schema ${problem}`)
  const poolSize = options.poolSize ?? 10
  if (!Number.isSafeInteger(poolSize) || poolSize < 2) throw new Error(`poolSize must be an integer of at least 2, got ${poolSize}`)
  const queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_PG_QUERY_TIMEOUT_MS
  if (!Number.isSafeInteger(queryTimeoutMs) || queryTimeoutMs < 1) throw new Error(`queryTimeoutMs must be a positive integer, got ${queryTimeoutMs}`)
  const lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_PG_LOCK_TIMEOUT_MS
  if (!Number.isSafeInteger(lockTimeoutMs) || lockTimeoutMs < 1) throw new Error(`lockTimeoutMs must be a positive integer, got ${lockTimeoutMs}`)
  return { url: options.url, schema, poolSize, queryTimeoutMs, lockTimeoutMs }
}

/** `url` without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
}
