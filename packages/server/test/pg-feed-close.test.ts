/**
 * The change feed tells a close's snapshot once: as the close's bound, not also as the bound of
 * the stream's last entry, whenever the feed reads that entry only after the close committed.
 */
import { expect, test } from 'vitest'
import type { FeedChange, FeedEntry } from '../src/postgres/pg-feed.ts'
import { closedAtTheirEnd } from '../src/postgres/pg-feed.ts'

const entry = (streamId: number, seq: number, gpos: number, snapshot: boolean): FeedEntry => ({
  type: 'entry',
  streamId,
  entry: { seq, ts: 1000 + seq, gpos, data: '{"merge":{}}' },
  snapshot,
})
const change = (kind: 'close' | 'delete', streamId: number, seq: number, gpos: number): FeedChange => ({
  type: 'change',
  csn: gpos,
  kind,
  streamId,
  name: `s${streamId}`,
  seq,
  ts: 1000 + seq,
  gpos,
})

test('a snapshot at the entry a close ends at is the close’s, not a window’s end of its own', () => {
  const entries = [entry(1, 20, 40, false), entry(2, 7, 41, true), entry(1, 21, 42, true)]
  const out = closedAtTheirEnd(entries, [change('close', 1, 21, 42)])
  expect(out.map((e) => [e.streamId, e.entry.seq, e.snapshot])).toEqual([
    [1, 20, false],
    // Another stream's window end at its own snapshot stays.
    [2, 7, true],
    [1, 21, false],
  ])
})

test('without a close in the page, or with a close elsewhere, every snapshot is told', () => {
  const entries = [entry(1, 8, 10, true), entry(2, 3, 11, true)]
  expect(closedAtTheirEnd(entries, [])).toEqual(entries)
  // A delete, a close of another stream, a close at another seq: none of them is this entry's.
  const changes = [change('delete', 1, 8, 10), change('close', 3, 8, 11), change('close', 2, 4, 12)]
  expect(closedAtTheirEnd(entries, changes).map((e) => e.snapshot)).toEqual([true, true])
})
