/**
 * Group commit at the store level: appends issued together share one transaction instead of one
 * each. On SQLite a transaction's cost shows in the write-ahead log — every commit appends the
 * pages it changed — so concurrent appends must grow the WAL far less than the same appends one
 * by one. On both engines, a request of a group that fails leaves nothing behind (in the database
 * or in memory) while the others commit.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { expect, inject } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
import type { StreamStoreOptions } from '../src/stream-store.ts'
import { test } from './support.ts'

const N = 60

async function walBytesAfter(file: string, concurrent: boolean): Promise<number> {
  // No checkpoints from the worker: they would restart the WAL while it is being measured.
  const store = new StreamStore({ file, checkpointMs: 0 })
  try {
    await store.create({ name: 's', contentType: 'application/json', kind: 'state' })
    const before = statSync(`${file}-wal`).size
    const append = (i: number) =>
      store.append({ name: 's', contentType: 'application/json', body: Buffer.from(JSON.stringify({ merge: { [`k${i}`]: i } })) })
    if (concurrent) {
      const results = await Promise.all(Array.from({ length: N }, (_, i) => append(i)))
      expect(results.map((r) => r.headSeq).sort((a, b) => a - b)).toEqual(Array.from({ length: N }, (_, i) => i + 1))
    } else {
      for (let i = 0; i < N; i++) await append(i)
    }
    expect((await store.headState('s')).seq).toBe(N)
    return statSync(`${file}-wal`).size - before
  } finally {
    await store.close()
  }
}

test.skipIf(inject('engine') === 'postgres')('appends issued together share a transaction: the WAL grows far less than one commit each', async ({ tmp }) => {
  const oneByOne = await walBytesAfter(join(tmp, 'sequential.db'), false)
  const together = await walBytesAfter(join(tmp, 'concurrent.db'), true)
  expect(oneByOne).toBeGreaterThan(0)
  expect(together * 5).toBeLessThan(oneByOne)
})

const body = (value: unknown) => Buffer.from(JSON.stringify(value))

test('a failing append in a group rolls back alone; the group’s other appends commit', async ({ onEngine }) => {
  const store = await StreamStore.open(onEngine<StreamStoreOptions>({}))
  try {
    await store.create({ name: 's', contentType: 'application/json', kind: 'state' })
    const outcomes = await Promise.allSettled([
      store.append({ name: 's', contentType: 'application/json', body: body({ merge: { a: 1 } }) }),
      store.append({ name: 's', contentType: 'application/json', body: body([{ merge: { b: 2 } }, { patch: [{ op: 'remove', path: '/zz' }] }]) }),
      store.append({ name: 's', contentType: 'application/json', body: body({ merge: { c: 3 } }) }),
      store.append({ name: 'missing', contentType: 'application/json', body: body({ merge: {} }) }),
      store.append({ name: 's', contentType: 'application/json', body: body({ merge: { d: 4 } }) }),
    ])
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
    expect(outcomes.filter((o) => o.status === 'rejected').map((o) => (o.reason as { code: string }).code)).toEqual([
      'MUTATION_FAILED',
      'STREAM_NOT_FOUND',
    ])
    expect(await store.headState('s')).toMatchObject({ seq: 3, state: { a: 1, c: 3, d: 4 } })
    const stored = await store.entriesAfter(await store.get('s'), 0, 10)
    expect(stored.map((e) => e.seq)).toEqual([1, 2, 3])
    // The global position counts only what was stored: the failed batch left no gap.
    expect(stored.map((e) => e.gpos)).toEqual([1, 2, 3])
    await store.reached(3)
    expect(store.gpos).toBe(3)
  } finally {
    await store.close()
  }
})

test('what a failed request of a group changed is undone: heads, snapshots, producers, created streams', async ({ onEngine, tmp }) => {
  const options = onEngine<StreamStoreOptions>({ file: join(tmp, 'undo.db'), checkpointMs: 0 })
  const json = 'application/json'
  let store = await StreamStore.open(options)
  try {
    // A snapshot every 2 entries: a failed batch of 3 would have taken one.
    await store.create({ name: 's', contentType: json, kind: 'state', policy: { entries: 2 } })
    await store.create({ name: 'taken', contentType: 'text/plain', kind: 'plain' })
    const producer = (seq: number) => ({ id: 'p', epoch: 0, seq })
    const groups: number[] = []
    const listening = store.onCommit((writes) => groups.push(writes))
    const appends = await Promise.allSettled([
      store.append({ name: 's', contentType: json, body: body({ merge: { a: 1 } }), producer: producer(0) }),
      // Fails on its last mutation, after its producer seq, its entries and a snapshot were planned.
      store.append({ name: 's', contentType: json, body: body([{ merge: { b: 2 } }, { merge: { c: 3 } }, { patch: [{ op: 'remove', path: '/zz' }] }]), producer: producer(1) }),
      // The failed seq is free: the producer's retry of it with a good batch is stored.
      store.append({ name: 's', contentType: json, body: body([{ merge: { d: 4 } }, { merge: { e: 5 } }]), producer: producer(1) }),
      store.append({ name: 'taken', contentType: json, body: body({ merge: {} }) }),
      store.append({ name: 'taken', contentType: 'text/plain', body: Buffer.from('x') }),
    ])
    expect(appends.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled'])
    expect(appends.filter((o) => o.status === 'rejected').map((o) => (o.reason as { code: string }).code)).toEqual(['MUTATION_FAILED', 'CONTENT_TYPE_MISMATCH'])
    // A new stream and a conflicting one (PostgreSQL commits each alone; SQLite groups them).
    const creates = await Promise.allSettled([
      store.create({ name: 'new', contentType: json, kind: 'state', body: body({ set: { n: 1 } }) }),
      store.create({ name: 'taken', contentType: json, kind: 'state' }),
      store.create({ name: 'new2', contentType: json, kind: 'state' }),
    ])
    expect(creates.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((creates[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'STREAM_CONFLICT' })
    listening()
    // The five appends, issued in one turn, were one group: the failures sat among the successes.
    expect(groups[0]).toBe(5)

    const expectStored = async (at: StreamStore): Promise<void> => {
      expect(await at.headState('s')).toMatchObject({ seq: 3, state: { a: 1, d: 4, e: 5 } })
      const stored = await at.entriesAfter(await at.get('s'), 0, 10)
      expect(stored.map((e) => [e.seq, JSON.parse(String(e.data))])).toEqual([
        [1, { merge: { a: 1 } }],
        [2, { merge: { d: 4 } }],
        [3, { merge: { e: 5 } }],
      ])
      // The snapshot the stored entries took (at seq 2), not the failed batch's.
      const windows = await at.windows('s', 0, Number.MAX_SAFE_INTEGER)
      expect(windows.map((w) => [w.start.seq, w.end?.seq ?? null])).toEqual([
        [0, 2],
        [2, null],
      ])
      expect((await at.window('s', { seq: 2 })).start?.seq).toBe(2)
      expect(JSON.parse((await at.window('s', { seq: 2 })).body).start.state).toEqual({ a: 1, d: 4 })
      expect(await at.headState('new')).toMatchObject({ seq: 1, state: { n: 1 } })
      expect((await at.get('taken')).kind).toBe('plain')
      expect((await at.entriesAfter(await at.get('taken'), 0, 10)).map((e) => String(e.data))).toEqual(['x'])
      expect((await at.get('new2')).headSeq).toBe(0)
      // The producer is at seq 1: the next seq is 2, a retry of 1 is a duplicate.
      const retry = await at.append({ name: 's', contentType: json, body: body({ merge: { d: 4 } }), producer: producer(1) })
      expect(retry.status).toBe('duplicate')
    }
    await expectStored(store)
    // What the database holds, read by a store that remembers nothing of the group.
    await store.close()
    store = await StreamStore.open(options)
    await expectStored(store)
    const next = await store.append({ name: 's', contentType: json, body: body({ merge: { f: 6 } }), producer: producer(2) })
    expect(next).toMatchObject({ status: 'appended', headSeq: 4 })
  } finally {
    await store.close()
  }
})

test('a closed store refuses writes with SHUTTING_DOWN but finishes those already queued', async ({ onEngine }) => {
  const store = await StreamStore.open(onEngine<StreamStoreOptions>({}))
  await store.create({ name: 's', contentType: 'text/plain', kind: 'plain' })
  const queued = store.append({ name: 's', contentType: 'text/plain', body: Buffer.from('x') })
  const closing = store.close()
  await expect(store.append({ name: 's', contentType: 'text/plain', body: Buffer.from('y') })).rejects.toMatchObject({
    code: 'SHUTTING_DOWN',
  })
  await expect(queued).resolves.toMatchObject({ status: 'appended', headSeq: 1 })
  await closing
})
