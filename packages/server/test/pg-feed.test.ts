/**
 * What the PostgreSQL change feed tells a replica's readers, against the test run's PostgreSQL:
 * - an entry's snapshot is told as a window's end only when the entry's own commit wrote it. A
 *   close without an append snapshots the stream's last entry later: a replica whose feed reads
 *   that entry only after the close must not tell a bound of its own there (the close's change is
 *   the final bound), while a close that appends ends the window at its entry and then the
 *   stream, as on SQLite;
 * - the store's clock (what `event: clock` says) is never behind a commit it has told readers,
 *   even while the rest of the feed's page is still being told.
 */
import pg from 'pg'
import { expect, test } from 'vitest'
import { clientConfig } from '../src/postgres/pg-connection.ts'
import { FEED_READ } from '../src/postgres/pg-feed.ts'
import { resolvePostgresOptions } from '../src/postgres/pg-options.ts'
import { StreamStore } from '../src/stream-store.ts'
import { fileDatabase } from '../../../test/support/pg-database.ts'

const database = fileDatabase()

const JSON_TYPE = 'application/json'

test('a close without an append leaves its entry without a bound of its own; one with an append ends the window there', async () => {
  const options = { postgres: { url: database().url, schema: 'feed_close' } }
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

test('while the feed tells a page of commits, the store’s clock is never behind what it told', async () => {
  const options = { postgres: { url: database().url, schema: 'feed_clock' } }
  const writer = await StreamStore.open(options)
  const reader = await StreamStore.open(options)
  try {
    const behind: Array<{ told: number; clock: number }> = []
    let last = 0
    const heard = new Promise<void>((resolve) =>
      reader.subscribe((event) => {
        if (event.type !== 'append') return
        const told = event.entries.at(-1)?.gpos ?? 0
        // Readers are told this commit now: a clock tick from here on must not claim less.
        if (reader.gpos < told) behind.push({ told, clock: reader.gpos })
        last = Math.max(last, told)
        if (last >= 12) resolve()
      }),
    )
    for (const name of ['a', 'b', 'c']) await writer.create({ name, contentType: JSON_TYPE, kind: 'state' })
    // Twelve commits, some of them while the reader's feed is still telling earlier ones.
    await Promise.all(
      ['a', 'b', 'c'].map(async (name) => {
        for (let i = 0; i < 4; i++) await writer.append({ name, contentType: JSON_TYPE, body: Buffer.from(`{"merge":{"i":${i}}}`) })
      }),
    )
    await heard
    expect(behind).toEqual([])
    expect(reader.gpos).toBe(12)
  } finally {
    await writer.close()
    await reader.close()
  }
})
