/**
 * A database of its own for each test file on the run's PostgreSQL server (started by
 * `postgres.ts`, vitest's global setup), so that files running in parallel never see each
 * other's streams. Dropped when the file is done.
 */
import { createHash, randomBytes } from 'node:crypto'
import pg from 'pg'
import { afterAll, beforeAll, inject } from 'vitest'

/** A database made for one test file. */
export interface TestDatabase {
  /** Its `postgres://` URL. */
  url: string
  /** Drops it (every connection to it is closed first). */
  drop(): Promise<void>
}

/**
 * A database of this test file's own, made before its tests and dropped after them (call it at
 * the top of the file); returns how to reach it.
 */
export function fileDatabase(): () => TestDatabase {
  let database: TestDatabase | undefined
  beforeAll(async () => {
    database = await freshDatabase()
  })
  afterAll(() => database?.drop())
  return () => {
    if (database === undefined) throw new Error('the file database is made before the tests run')
    return database
  }
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

/** The storage engine a test project runs its servers on (the `engine` a project provides). */
export type TestEngine = 'sqlite' | 'postgres'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The engine of this project's servers; `sqlite` unless the project says otherwise. */
    engine: TestEngine
  }
}

/**
 * The store options that put a test's server on `engine`. On PostgreSQL each store gets a schema
 * of its own in the file's database, named after `file` when the test gives one (a store opened
 * again on the same file opens the same schema, as SQLite opens the same file), else a fresh one.
 */
export function engineOptions(engine: TestEngine, database: TestDatabase | undefined, file?: string): { postgres?: { url: string; schema: string } } {
  if (engine !== 'postgres') return {}
  if (database === undefined) throw new Error('a PostgreSQL test server needs its file\'s database')
  const schema = file === undefined ? `s_${randomBytes(6).toString('hex')}` : schemaOfFile(file)
  return { postgres: { url: database.url, schema } }
}

/** The schema that stands for SQLite file `file` on PostgreSQL. */
export function schemaOfFile(file: string): string {
  return `f_${createHash('sha256').update(file).digest('hex').slice(0, 16)}`
}

/** Runs `sql` (one `$1` parameter at most) on the schema that stands for `file` in `database`. */
export async function queryFileSchema<T>(database: TestDatabase, file: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: database.url, options: `-c search_path=${schemaOfFile(file)}` })
  await client.connect()
  try {
    return (await client.query(sql, params)).rows as T[]
  } finally {
    await client.end()
  }
}

/**
 * Schemas of one test file's database, reused from test to test: a store's first open of a
 * schema creates its tables (about a tenth of a second), so a schema that a test is done with is
 * emptied and handed to the next store instead.
 */
export class SchemaPool {
  readonly #database: TestDatabase
  readonly #spare: string[] = []

  constructor(database: TestDatabase) {
    this.#database = database
  }

  /** An empty schema (made by the store that opens it, or emptied since its last test). */
  take(): string {
    return this.#spare.pop() ?? `s_${randomBytes(6).toString('hex')}`
  }

  /** Empties `schemas` (their stores closed) and keeps them for later tests. */
  async release(schemas: readonly string[]): Promise<void> {
    if (schemas.length === 0) return
    const client = new pg.Client({ connectionString: this.#database.url })
    await client.connect()
    try {
      for (const schema of schemas) {
        // A store that never opened made no tables: nothing to keep.
        const found = await client.query("SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = 'position'", [schema])
        if (found.rowCount === 0) continue
        await client.query(
          `TRUNCATE ${schema}.streams, ${schema}.entries, ${schema}.snapshots, ${schema}.marks, ${schema}.producers, ${schema}.changes;
           UPDATE ${schema}.position SET gpos = 0, csn = 0;
           ALTER SEQUENCE ${schema}.streams_id_seq RESTART`,
        )
        this.#spare.push(schema)
      }
    } finally {
      await client.end()
    }
  }
}
