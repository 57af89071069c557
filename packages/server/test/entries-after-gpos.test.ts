/**
 * Multi-stream resumes read a stream's entries after a global position. gpos grows with seq within
 * a stream, so the store finds the place by binary search over seq; this pins it against a naive
 * filter for every position, with streams written interleaved and in batches.
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
