/**
 * vitest's `test` with the storage engine of the project it runs in: `engine` (`sqlite`, or
 * `postgres` in the `postgres` project), `database` (on PostgreSQL, the test file's own database),
 * and `onEngine(options)`, the server options that put a server on that engine. Every server
 * fixture builds its apps with `onEngine`, so one test file runs on both engines unchanged.
 */
import { test } from 'vitest'
import { SchemaPool, engineOptions, freshDatabase } from './pg-database.ts'
import type { TestDatabase, TestEngine } from './pg-database.ts'

/** The engine fixtures. */
export interface EngineFixtures {
  engine: TestEngine
  database: TestDatabase | undefined
  /** On PostgreSQL: the file's schemas, emptied after each test for the next one. */
  schemas: SchemaPool | undefined
  /** `options` with what puts a server on this project's engine (a schema of its own, on PostgreSQL). */
  onEngine: <T extends { file?: string }>(options: T) => T & ReturnType<typeof engineOptions>
}

export const engineTest = test.extend<EngineFixtures>({
  engine: ['sqlite', { injected: true, scope: 'file' }],
  database: [
    async ({ engine }, use) => {
      if (engine !== 'postgres') return use(undefined)
      const database = await freshDatabase()
      await use(database)
      await database.drop()
    },
    { scope: 'file' },
  ],
  schemas: [
    async ({ database }, use) => {
      await use(database === undefined ? undefined : new SchemaPool(database))
    },
    { scope: 'file' },
  ],
  onEngine: async ({ engine, database, schemas }, use) => {
    const taken: string[] = []
    await use((options) => {
      // A store on a file of its own keeps its schema (a test reopens it); any other takes a spare one.
      if (engine !== 'postgres' || options.file !== undefined || schemas === undefined) return { ...engineOptions(engine, database, options.file), ...options }
      const schema = schemas.take()
      taken.push(schema)
      return { postgres: { url: (database as TestDatabase).url, schema }, ...options }
    })
    // After the test's servers are closed (their fixtures end first).
    await schemas?.release(taken)
  },
})
