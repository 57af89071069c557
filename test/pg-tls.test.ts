/**
 * `sslmode` in a `--store` URL means what it means to libpq (and so to `psql` with the same URL),
 * against a real PostgreSQL server that takes TLS with a self-signed certificate:
 * - `require` encrypts without checking the certificate, so it connects;
 * - `verify-full` checks it against the trusted roots, so it refuses a self-signed one;
 * - `disable` connects in plain text;
 * and the server prints no warning of the `pg` library's about how it reads those modes.
 */
import pg from 'pg'
import { buildApp } from '@statestream/server'
import { expect, inject } from 'vitest'
import { replicaTest as test } from './support/replicas.ts'

/** `url` with `sslmode=<mode>` in its query. */
function withMode(url: string, mode: string): string {
  const given = new URL(url)
  given.searchParams.set('sslmode', mode)
  return given.toString()
}

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const admin = new pg.Client({ connectionString: url })
  await admin.connect()
  try {
    return (await admin.query<T>(text, values)).rows
  } finally {
    await admin.end()
  }
}

/**
 * Whether each of the store's connections to the database made since `since` (the database's
 * clock) is encrypted, as the database sees it. Connections of a store closed before may still be
 * ending; they began earlier.
 */
async function encryptedSince(url: string, since: Date): Promise<boolean[]> {
  const rows = await query<{ ssl: boolean }>(
    url,
    "SELECT s.ssl FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'statestream' AND a.datname = current_database() AND a.backend_start >= $1",
    [since],
  )
  return rows.map((row) => row.ssl)
}

test.skipIf(!inject('pgTls'))('sslmode has libpq\'s meaning, and no warning is printed', async ({ database, newSchema }) => {
  const url = (database as { url: string }).url
  const warnings: string[] = []
  const onWarning = (warning: Error): void => void warnings.push(warning.message)
  process.on('warning', onWarning)
  try {
    for (const [mode, encrypted] of [['require', true], ['disable', false]] as const) {
      const [{ now }] = (await query<{ now: Date }>(url, 'SELECT now()')) as [{ now: Date }]
      const app = await buildApp({ postgres: { url: withMode(url, mode), schema: newSchema() } })
      try {
        const json = { 'content-type': 'application/json' }
        expect((await app.inject({ method: 'PUT', url: '/v1/stream/tls/a', headers: { ...json, 'stream-kind': 'state' } })).statusCode).toBe(201)
        expect((await app.inject({ method: 'POST', url: '/v1/stream/tls/a', headers: json, payload: '{"set":{"mode":1}}' })).statusCode).toBe(204)
        expect((await app.inject({ url: '/v1/state/tls/a' })).json()).toMatchObject({ seq: 1, state: { mode: 1 } })
        const seen = await encryptedSince(url, now)
        expect(seen.length, mode).toBeGreaterThan(0)
        expect(seen.every((ssl) => ssl === encrypted), `${mode}: ${JSON.stringify(seen)}`).toBe(true)
      } finally {
        await app.close()
      }
    }
    await expect(buildApp({ postgres: { url: withMode(url, 'verify-full'), schema: newSchema() } })).rejects.toThrow(/self[- ]signed certificate/)
    // A turn for any warning emitted along the way to reach its listeners.
    await new Promise((resolve) => setImmediate(resolve))
    expect(warnings).toEqual([])
  } finally {
    process.off('warning', onWarning)
  }
})
