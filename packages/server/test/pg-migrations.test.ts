/**
 * The PostgreSQL engine's migrations, against the test run's real PostgreSQL: a new schema is
 * created and migrated once, replicas that start together migrate it once between them, and a
 * schema newer than the server is refused rather than misread; a store on the longest schema
 * name allowed works end to end.
 */
import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { clientConfig } from '../src/postgres/pg-connection.ts'
import { resolvePostgresOptions } from '../src/postgres/pg-options.ts'
import { PG_MIGRATIONS, migrate } from '../src/postgres/pg-schema.ts'
import { StreamStore } from '../src/stream-store.ts'
import { freshDatabase } from '../../../test/support/pg-database.ts'
import type { TestDatabase } from '../../../test/support/pg-database.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await freshDatabase()
})
afterAll(() => database.drop())

async function connect(schema: string): Promise<pg.Client> {
  const client = new pg.Client(clientConfig(resolvePostgresOptions({ url: database.url, schema })))
  await client.connect()
  return client
}

test('a new schema is created and migrated to the newest version, once', async () => {
  const client = await connect('fresh')
  try {
    await migrate(client, 'fresh')
    await client.query("INSERT INTO streams (name, content_type, kind, created_ts, snap_entries, snap_bytes, snap_ms, head_ts, snap_ts) VALUES ('s', 'text/plain', 'plain', 1, 1, 1, 1, 1, 1)")
    // Again: nothing to do, nothing lost.
    await migrate(client, 'fresh')
    const version = await client.query<{ version: number }>('SELECT version FROM schema_version')
    expect(version.rows).toEqual([{ version: PG_MIGRATIONS.length }])
    const streams = await client.query<{ name: string }>('SELECT name FROM streams')
    expect(streams.rows).toEqual([{ name: 's' }])
    // 64-bit integers come back as numbers.
    const position = await client.query<{ gpos: number }>('SELECT gpos FROM position')
    expect(position.rows).toEqual([{ gpos: 0 }])
  } finally {
    await client.end()
  }
})

test('replicas that start together migrate the schema once between them', async () => {
  const clients = await Promise.all([1, 2, 3, 4].map(() => connect('together')))
  try {
    await Promise.all(clients.map((client) => migrate(client, 'together')))
    const version = await (clients[0] as pg.Client).query<{ version: number }>('SELECT version FROM schema_version')
    expect(version.rows).toEqual([{ version: PG_MIGRATIONS.length }])
  } finally {
    await Promise.all(clients.map((client) => client.end()))
  }
})

test('a schema newer than this server is refused', async () => {
  const client = await connect('newer')
  try {
    await migrate(client, 'newer')
    await client.query('UPDATE schema_version SET version = $1', [PG_MIGRATIONS.length + 1])
    await expect(migrate(client, 'newer')).rejects.toThrow(`the database is at schema version ${PG_MIGRATIONS.length + 1}, newer than this server`)
  } finally {
    await client.end()
  }
})

test('bad connection options are refused with a clear message that hides the password', () => {
  expect(() => resolvePostgresOptions({ url: 'mysql://u:secret@h/db' })).toThrow('a PostgreSQL store needs a postgres:// URL, got "mysql://u:***@h/db"')
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', schema: 'a; DROP' })).toThrow('the PostgreSQL schema must be lower-case letters')
  // Connections name the schema unquoted (folded to lower case), and its channel must fit 63 bytes.
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', schema: 'Tenant' })).toThrow('(schema names are lower case: "tenant")')
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', schema: 's'.repeat(51) })).toThrow('(51 characters)')
  expect(resolvePostgresOptions({ url: 'postgres://h/db', schema: 's'.repeat(50) }).schema).toBe('s'.repeat(50))
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', poolSize: 1 })).toThrow('poolSize must be an integer of at least 2')
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', queryTimeoutMs: 0 })).toThrow('queryTimeoutMs must be a positive integer')
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', queryTimeoutMs: 1.5 })).toThrow('queryTimeoutMs must be a positive integer')
  expect(() => resolvePostgresOptions({ url: 'postgres://h/db', lockTimeoutMs: 0 })).toThrow('lockTimeoutMs must be a positive integer')
  expect(resolvePostgresOptions({ url: 'postgresql://h/db' })).toEqual({ url: 'postgresql://h/db', schema: 'public', poolSize: 10, queryTimeoutMs: 60_000, lockTimeoutMs: 30_000 })
})

test('a store on the longest schema name allowed writes, and another on it hears the commit', async () => {
  // Its commit channel, statestream_<schema>, is then 62 bytes: within PostgreSQL's 63.
  const options = { postgres: { url: database.url, schema: 's'.repeat(50) } }
  const writer = await StreamStore.open(options)
  const reader = await StreamStore.open(options)
  try {
    const heard = new Promise<void>((resolve) => reader.subscribe(() => resolve()))
    await writer.create({ name: 'a', contentType: 'application/json', kind: 'state' })
    await writer.append({ name: 'a', contentType: 'application/json', body: Buffer.from('{"set":{"x":1}}') })
    await heard
    expect((await reader.headState('a')).state).toEqual({ x: 1 })
  } finally {
    await writer.close()
    await reader.close()
  }
})
