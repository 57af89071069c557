/**
 * Connections to the PostgreSQL engine's database: what every client of a store is configured
 * with (the store's schema as its `search_path`, 64-bit integers as JavaScript numbers), and the
 * validation of the options that name the database.
 */
import pg from 'pg'

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
const INT8_OID = 20

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

/** The configuration of every client of the store. */
export function clientConfig(options: Required<PostgresOptions>): pg.ClientConfig {
  return {
    connectionString: options.url,
    // Every statement names its tables unqualified: the schema is the connection's search_path.
    options: `-c search_path=${options.schema}`,
    types: {
      // Positions, seqs, times and sizes are bigint columns; all of them fit a double exactly.
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
    },
    application_name: 'statestream',
  }
}

/** `url` without its password, for messages. */
export function redact(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@')
}
