/**
 * Connections to the PostgreSQL engine's database: what every client of a store is configured
 * with (the store's schema as its `search_path`, 64-bit integers as JavaScript numbers, bounded
 * waits), and how a client is checked out of the pool so that losing its connection while it is
 * out cannot crash the process.
 *
 * A `pg` client emits `error` when its connection ends unexpectedly (a PostgreSQL restart,
 * `pg_terminate_backend`, a network reset), even in the middle of a query, and Node throws an
 * `error` event nobody listens to. The pool listens while a client is idle and stops when it is
 * checked out; `checkout` listens while it is out, and a client given back after a failure is
 * discarded, never reused.
 */
import pg from 'pg'
import type { PostgresOptions } from './pg-options.ts'

const INT8_OID = 20

/**
 * Bounds on waiting for the database, generous enough for a busy machine. A connection (or a free
 * client of the pool) that does not come within `CONNECT_TIMEOUT_MS` fails the request that asked
 * for it; a write that waits longer than `lockTimeoutMs` (`pg-options.ts`) for the position lock
 * fails instead of queueing behind a stuck replica; and a transaction left idle longer than
 * `IDLE_IN_TRANSACTION_MS` (its replica frozen or cut off while holding the lock) is ended by the
 * database, which frees the lock for everyone else. A group never idles that long: between its
 * statements runs only the replica's own work on what it read.
 */
export const CONNECT_TIMEOUT_MS = 15_000
export const IDLE_IN_TRANSACTION_MS = 30_000
/** TCP keep-alive probes start after this long without traffic (a silent peer is found out). */
const KEEPALIVE_DELAY_MS = 10_000

/** The configuration of every client of the store. */
export function clientConfig(options: Required<PostgresOptions>): pg.ClientConfig {
  return {
    connectionString: libpqSslModes(options.url),
    // Every statement names its tables unqualified: the schema is the connection's search_path.
    options: `-c search_path=${options.schema}`,
    types: {
      // Positions, seqs, times and sizes are bigint columns; all of them fit a double exactly.
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
    },
    application_name: 'statestream',
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    lock_timeout: options.lockTimeoutMs,
    idle_in_transaction_session_timeout: IDLE_IN_TRANSACTION_MS,
    // A statement on a connection gone silent (no reset ever comes) fails after this, instead of
    // waiting for TCP keep-alive to give up (about 11 minutes); the client is then discarded.
    query_timeout: options.queryTimeoutMs,
  }
}

/**
 * `url` with its `sslmode` meaning what it means to libpq, and so to `psql` with the same URL
 * (PostgreSQL's "SSL Support" chapter): `require` encrypts without checking the certificate,
 * `verify-ca` checks its chain, `verify-full` its host name too. The `pg` library otherwise takes
 * `prefer`, `require` and `verify-ca` for `verify-full`, with a many-line warning at every start
 * that it will stop doing so. A URL that says `uselibpqcompat` itself is left as it is.
 */
export function libpqSslModes(url: string): string {
  const query = new URL(url).searchParams
  if (!query.has('sslmode') || query.has('uselibpqcompat')) return url
  const hash = url.indexOf('#')
  const [base, fragment] = hash === -1 ? [url, ''] : [url.slice(0, hash), url.slice(hash)]
  return `${base}${base.includes('?') ? '&' : '?'}uselibpqcompat=true${fragment}`
}

/** A client checked out of the pool, listened to for connection errors until it is given back. */
export interface Lease {
  readonly client: pg.PoolClient
  /** The error its connection failed with while checked out, if it did. */
  readonly lost: unknown
  /**
   * Gives the client back: to the pool for reuse, or, with an `error` (or once its connection
   * failed), to be discarded.
   */
  release(error?: unknown): void
}

/** Checks a client out of `pool`. */
export async function checkout(pool: pg.Pool): Promise<Lease> {
  const client = await pool.connect()
  let lost: unknown
  let released = false
  // Its queries fail with the error too; this only keeps it from being thrown.
  const onError = (error: unknown): void => {
    lost ??= error
  }
  client.on('error', onError)
  return {
    client,
    get lost() {
      return lost
    },
    release(error?: unknown) {
      if (released) return
      released = true
      client.removeListener('error', onError)
      const failure = error ?? lost
      client.release(failure === undefined ? undefined : failure instanceof Error ? failure : new Error(String(failure)))
    },
  }
}
