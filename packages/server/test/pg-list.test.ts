/**
 * The list of streams on PostgreSQL reads a page in one query: the rows of the names it lists
 * answer the lookups of those names that follow, instead of one round trip per stream.
 */
import pg from 'pg'
import { expect, test, vi } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import { fileDatabase } from '../../../test/support/pg-database.ts'

const database = fileDatabase()

const JSON_TYPE = 'application/json'

test('a page of 40 streams, forks among them, is read in one query, and lists each as its own lookup would', async () => {
  const store = await StreamStore.open({ postgres: { url: database().url, schema: 'list_page' } })
  try {
    for (let i = 0; i < 36; i++) {
      const name = `p/s${String(i).padStart(2, '0')}`
      await store.create({ name, contentType: JSON_TYPE, kind: i % 2 === 0 ? 'state' : 'plain' })
      if (i % 3 === 0) await store.append({ name, contentType: JSON_TYPE, body: Buffer.from(`{"merge":{"i":${i}}}`) })
    }
    // Forks whose sources are on the same page.
    for (let i = 0; i < 4; i++) await store.create({ name: `p/t${i}`, contentType: JSON_TYPE, kind: 'state', fork: { source: `p/s${String(i * 2).padStart(2, '0')}` } })
    await store.create({ name: 'q/elsewhere', contentType: JSON_TYPE, kind: 'state' })

    // Every statement goes through a client (the pool's too); the change feed's reads run on
    // their own, so only the reads of stream rows are counted.
    const queries = vi.spyOn(pg.Client.prototype, 'query')
    let page: Awaited<ReturnType<StreamStore['list']>>
    let sqls: string[]
    try {
      page = await store.list('p/', '', 100)
      sqls = queries.mock.calls.map(([sql]) => (typeof sql === 'string' ? sql : ''))
    } finally {
      queries.mockRestore()
    }
    // Reads of stream rows by name (the list's and the lookups'); the change feed's delivery, which
    // may read rows by id at any moment, is not the list's.
    const streamReads = sqls.filter((sql) => /FROM streams WHERE name /.test(sql))
    // One query for the page's rows; without the rows answering the lookups, 41.
    expect(streamReads.length).toBe(1)
    expect(page.next).toBeNull()
    expect(page.streams.map((info) => info.name)).toEqual([
      ...Array.from({ length: 36 }, (_, i) => `p/s${String(i).padStart(2, '0')}`),
      'p/t0',
      'p/t1',
      'p/t2',
      'p/t3',
    ])
    // What each stream's own lookup says.
    for (const listed of page.streams) {
      const info = await store.get(listed.name)
      expect({ name: listed.name, kind: listed.kind, headSeq: listed.headSeq, fork: listed.fork }).toEqual({
        name: info.name,
        kind: info.kind,
        headSeq: info.headSeq,
        fork: info.fork,
      })
    }
    expect(page.streams.find((info) => info.name === 'p/s03')?.headSeq).toBe(1)
    expect(page.streams.find((info) => info.name === 'p/t1')?.fork).toMatchObject({ seq: 0 })
  } finally {
    await store.close()
  }
})
