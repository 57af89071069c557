/**
 * `LiveHub.holdAll`: a multiplexed tail holds several streams while it reads its initial data;
 * what was committed meanwhile must reach it in commit (gpos) order, whichever stream it was
 * committed to and in whatever order the tail then follows them.
 */
import { expect, test } from 'vitest'
import { LiveHub } from '../src/live/live-hub.ts'
import type { LiveBatch } from '../src/live/live-hub.ts'
import { StreamStore } from '../src/stream-store.ts'

test('several held streams hand on what was committed meanwhile in gpos order, whatever order they follow in', async () => {
  const store = await StreamStore.open()
  const hub = new LiveHub(store)
  try {
    const a = (await store.create({ name: 'a', contentType: 'application/json', kind: 'state' })).info
    const b = (await store.create({ name: 'b', contentType: 'application/json', kind: 'state' })).info
    const holds = hub.holdAll([a, b].map((info) => ({ name: info.name, streamId: info.id })))
    // Committed while held: b, then a, then b again.
    for (const name of ['b', 'a', 'b']) await store.append({ name, contentType: 'application/json', body: Buffer.from('{"merge":{"x":1}}') })
    const seen: Array<[string, number]> = []
    const subscriber = (name: string) => ({
      append: (batch: LiveBatch) => seen.push([name, batch.lastGpos]),
      closed: () => {},
      deleted: () => {},
    })
    // Followed a first: nothing is handed on until b follows too, then all of it in gpos order.
    ;(holds[0] as (typeof holds)[number]).follow(subscriber('a'))
    expect(seen).toEqual([])
    ;(holds[1] as (typeof holds)[number]).follow(subscriber('b'))
    expect(seen.map(([name]) => name)).toEqual(['b', 'a', 'b'])
    expect(seen.map(([, gpos]) => gpos)).toEqual([...seen.map(([, gpos]) => gpos)].sort((x, y) => x - y))
    // After that, events go straight through.
    await store.append({ name: 'a', contentType: 'application/json', body: Buffer.from('{"merge":{"x":2}}') })
    expect(seen.at(-1)?.[0]).toBe('a')
    // A stream let go before following does not hold the others back.
    const again = hub.holdAll([a, b].map((info) => ({ name: info.name, streamId: info.id })))
    await store.append({ name: 'a', contentType: 'application/json', body: Buffer.from('{"merge":{"x":3}}') })
    const later: string[] = []
    ;(again[1] as (typeof again)[number]).unsubscribe()
    ;(again[0] as (typeof again)[number]).follow({ append: () => later.push('a'), closed: () => {}, deleted: () => {} })
    expect(later).toEqual(['a'])
    for (const held of [...holds, ...again]) held.unsubscribe()
  } finally {
    await hub.close()
    await store.close()
  }
})
