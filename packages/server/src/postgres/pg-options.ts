/**
 * The options that name a PostgreSQL store, and their validation (no driver here: the package's
 * public types name these, and must not need the driver's).
 */

/** Where a PostgreSQL store lives. */
export interface PostgresOptions {
  /** A `postgres://` (or `postgresql://`) connection URL. */
  url: string
  /**
   * The schema holding the store's tables, created if missing. Several stores may share one
   * database in schemas of their own. Letters, digits and `_`, not starting with a digit. Default
   * `public`.
   */
  schema?: string
  /** Most connections the store's pool opens (besides the one that listens for commits). Default 10. */
  poolSize?: number
}

/** The default schema. */
export const DEFAULT_PG_SCHEMA = 'public'

const SCHEMA_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/

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
  if (!SCHEMA_NAME.test(schema)) throw new Error(`the PostgreSQL schema must be letters, digits and _ (not starting with a digit), got "${schema}"`)
  const poolSize = options.poolSize ?? 10
  if (!Number.isSafeInteger(poolSize) || poolSize < 2) throw new Error(`poolSize must be an integer of at least 2, got ${poolSize}`)
  return { url: options.url, schema, poolSize }
}

/** `url` without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
}
