/**
 * A resume by global position on PostgreSQL: finding a stream's place at a gpos near its head is
 * one query (its last entries, filtered), not a binary search of a round trip per step; a place
 * further back is still searched for, and both agree with a filter of the whole log.
 */
import pg from 'pg'
import { expect, test, vi } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import { fileDatabase } from '../../../test/support/pg-database.ts'

const database = fileDatabase()

const JSON_TYPE = 'application/json'

test('the place at a gpos near the head is one read of the log; one far behind is searched, and both are right', async () => {
  const store = await StreamStore.open({ postgres: { url: database().url, schema: 'resume_gpos' } })
  try {
    for (const name of ['r/a', 'r/b']) await store.create({ name, contentType: JSON_TYPE, kind: 'plain' })
    // 2,000 entries in batches, interleaved with another stream's (gaps in the gpos run).
    for (let round = 0; round < 40; round++) {
      const body = Buffer.from(JSON.stringify(Array.from({ length: 50 }, (_, i) => ({ round, i }))))
      await store.append({ name: 'r/a', contentType: JSON_TYPE, body })
      await store.append({ name: 'r/b', contentType: JSON_TYPE, body: Buffer.from('{"b":1}') })
    }
    await store.reached(store.gpos)
    const info = await store.get('r/a')
    const all = await store.entriesAfter(info, 0, 10_000)
    expect(all.length).toBe(2000)
    const expected = (gpos: number) => all.filter((entry) => entry.gpos <= gpos).at(-1)?.seq ?? 0

    const place = async (gpos: number): Promise<{ seq: number; logReads: number }> => {
      const queries = vi.spyOn(pg.Client.prototype, 'query')
      try {
        const seq = await store.read((view) => view.seqAtGpos(info, gpos))
        // Reads of one stream's log; the change feed, which may read all streams' new entries at
        // any moment, is not this read's.
        const logReads = queries.mock.calls.filter(([sql]) => typeof sql === 'string' && /FROM entries WHERE stream_id = \$1/.test(sql)).length
        return { seq, logReads }
      } finally {
        queries.mockRestore()
      }
    }
    const head = all.at(-1)?.gpos as number
    // Near the head: one query. A binary search over 2,000 entries takes 11.
    for (const gpos of [head, head - 1, head - 60, head - 300]) {
      expect(await place(gpos), `gpos ${gpos}`).toEqual({ seq: expected(gpos), logReads: 1 })
    }
    // Far behind: the one query, then the search.
    for (const gpos of [0, 1, 51, 500, head - 1500]) {
      const found = await place(gpos)
      expect(found.seq, `gpos ${gpos}`).toBe(expected(gpos))
      expect(found.logReads).toBeGreaterThan(1)
      expect(found.logReads).toBeLessThanOrEqual(13)
    }
  } finally {
    await store.close()
  }
})
