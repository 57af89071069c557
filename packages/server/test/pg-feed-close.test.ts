/**
 * The change feed's page tells an entry's snapshot as a window's end only when the entry's own
 * commit wrote it. A close without an append snapshots the stream's last entry later: a replica
 * whose feed reads that entry only after the close must not tell a bound of its own there (the
 * close's change is the final bound), while a close that appends ends the window at its entry and
 * then the stream, as on SQLite.
 */
import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { clientConfig } from '../src/postgres/pg-connection.ts'
import { FEED_READ } from '../src/postgres/pg-feed.ts'
import { resolvePostgresOptions } from '../src/postgres/pg-options.ts'
import { StreamStore } from '../src/stream-store.ts'
import { freshDatabase } from '../../../test/support/pg-database.ts'
import type { TestDatabase } from '../../../test/support/pg-database.ts'

let database: TestDatabase
beforeAll(async () => {
  database = await freshDatabase()
})
afterAll(() => database.drop())

const JSON_TYPE = 'application/json'

test('a close without an append leaves its entry without a bound of its own; one with an append ends the window there', async () => {
  const options = { postgres: { url: database.url, schema: 'feed_close' } }
  const store = await StreamStore.open(options)
  const client = new pg.Client(clientConfig(resolvePostgresOptions(options.postgres)))
  await client.connect()
  try {
    for (const name of ['only', 'with']) {
      await store.create({ name, contentType: JSON_TYPE, kind: 'state' })
      await store.append({ name, contentType: JSON_TYPE, body: Buffer.from('{"merge":{"a":1}}') })
    }
    await store.append({ name: 'only', body: Buffer.alloc(0), closed: true })
    await store.append({ name: 'with', contentType: JSON_TYPE, body: Buffer.from('{"merge":{"a":2}}'), closed: true })
    // Both closes snapshotted their stream's last entry.
    const snapshots = await client.query<{ name: string; seq: number }>(
      'SELECT st.name, s.seq FROM snapshots s JOIN streams st ON st.id = s.stream_id WHERE s.seq > 0 ORDER BY st.name',
    )
    expect(snapshots.rows).toEqual([
      { name: 'only', seq: 1 },
      { name: 'with', seq: 2 },
    ])
    // The feed's page from the start, read after both closes committed.
    const page = await client.query<{ t: number; stream_id: number; seq: number; snap: boolean | null; kind: string | null }>(FEED_READ, [0, 0, 100])
    const ids = new Map((await client.query<{ id: number; name: string }>('SELECT id, name FROM streams')).rows.map((row) => [row.id, row.name]))
    const entries = page.rows.filter((row) => row.t === 0).map((row) => [ids.get(row.stream_id), row.seq, row.snap])
    expect(entries).toEqual([
      ['only', 1, false],
      ['with', 1, false],
      ['with', 2, true],
    ])
    const closes = page.rows.filter((row) => row.t === 1).map((row) => [ids.get(row.stream_id), row.seq, row.kind])
    expect(closes).toEqual([
      ['only', 1, 'close'],
      ['with', 2, 'close'],
    ])
  } finally {
    await client.end()
    await store.close()
  }
})
