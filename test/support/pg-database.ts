/**
 * A database of its own for each test file on the run's PostgreSQL server (started by
 * `postgres.ts`, vitest's global setup), so that files running in parallel never see each
 * other's streams. Dropped when the file is done.
 */
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import { inject } from 'vitest'

/** A database made for one test file. */
export interface TestDatabase {
  /** Its `postgres://` URL. */
  url: string
  /** Drops it (every connection to it is closed first). */
  drop(): Promise<void>
}

/** Creates a new, empty database on the test server. */
export async function freshDatabase(): Promise<TestDatabase> {
  const admin = inject('pgUrl')
  const name = `statestream_test_${randomBytes(6).toString('hex')}`
  await withClient(admin, (client) => client.query(`CREATE DATABASE ${name}`))
  const url = new URL(admin)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: () => withClient(admin, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(() => {}),
  }
}

async function withClient<T>(url: string, run: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return await run(client)
  } finally {
    await client.end()
  }
}
