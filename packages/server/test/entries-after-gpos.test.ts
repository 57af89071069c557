/**
 * Multi-stream resumes read a stream's entries after a global position. gpos grows with seq within
 * a stream, so the store finds the place among the entries near the head in one query, or else
 * by binary search over seq; this pins both against a naive filter, with streams written
 * interleaved and in batches, and a fork.
 */
import { expect, test } from 'vitest'
import { StreamStore } from '@statestream/server'

test('entriesAfterGpos returns exactly the entries with a larger gpos, in order, for every gpos', async () => {
  const store = new StreamStore()
  try {
    const names = ['a', 'b', 'c']
    for (const name of names) await store.create({ name, contentType: 'application/json', kind: 'state' })
    // Interleaved single appends and batches, so each stream's gpos run has gaps of every size.
    for (let round = 0; round < 30; round++) {
      const name = names[(round * 7) % 3] as string
      const batch = Array.from({ length: 1 + (round % 4) }, (_, i) => ({ merge: { round, i } }))
      await store.append({ name, contentType: 'application/json', body: Buffer.from(JSON.stringify(batch)) })
    }
    for (const name of names) {
      const info = await store.get(name)
      const all = await store.entriesAfter(info, 0, 10_000)
      expect(all.length).toBe(info.headSeq)
      for (let gpos = 0; gpos <= store.gpos + 1; gpos++) {
        const expected = all.filter((entry) => entry.gpos > gpos).map((entry) => entry.seq)
        expect((await store.entriesAfterGpos(info, gpos, 10_000)).map((entry) => entry.seq)).toEqual(expected)
        // The limit cuts from the front.
        expect((await store.entriesAfterGpos(info, gpos, 2)).map((entry) => entry.seq)).toEqual(expected.slice(0, 2))
      }
    }
  } finally {
    await store.close()
  }
})

test('entriesAfterGpos agrees with the filter near the head and far behind it, on a fork too', async () => {
  const store = new StreamStore()
  try {
    const json = 'application/json'
    for (const name of ['a', 'b']) await store.create({ name, contentType: json, kind: 'state' })
    const batch = (size: number, tag: number) => Buffer.from(JSON.stringify(Array.from({ length: size }, (_, i) => ({ merge: { tag, i } }))))
    // Each stream well past the entries looked at near the head (512), with gaps between runs.
    for (let round = 0; round < 60; round++) await store.append({ name: round % 3 === 0 ? 'b' : 'a', contentType: json, body: batch(1 + (round % 50), round) })
    await store.create({ name: 'f', contentType: json, kind: 'state', fork: { source: 'a', offset: 700 } })
    for (let round = 0; round < 20; round++) {
      await store.append({ name: round % 2 === 0 ? 'f' : 'b', contentType: json, body: batch(40, 100 + round) })
    }
    for (const name of ['a', 'b', 'f']) {
      const info = await store.get(name)
      const all = await store.entriesAfter(info, 0, 100_000)
      expect(all.length).toBe(info.headSeq)
      expect(info.headSeq).toBeGreaterThan(512)
      for (let gpos = 0; gpos <= store.gpos + 1; gpos += gpos < 10 || gpos > store.gpos - 10 ? 1 : 13) {
        const first = all.find((entry) => entry.gpos > gpos)
        expect((await store.entriesAfterGpos(info, gpos, 1))[0]?.seq, `${name} after gpos ${gpos}`).toBe(first?.seq)
      }
    }
  } finally {
    await store.close()
  }
})
