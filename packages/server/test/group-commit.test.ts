/**
 * Group commit at the store level: appends issued together share one SQLite transaction instead
 * of one each. A transaction's cost shows in the write-ahead log — every commit appends the pages
 * it changed — so concurrent appends must grow the WAL far less than the same appends one by one.
 */
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { expect } from 'vitest'
import { StreamStore } from '../src/stream-store.ts'
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

test('appends issued together share a transaction: the WAL grows far less than one commit each', async ({ tmp }) => {
  const oneByOne = await walBytesAfter(join(tmp, 'sequential.db'), false)
  const together = await walBytesAfter(join(tmp, 'concurrent.db'), true)
  expect(oneByOne).toBeGreaterThan(0)
  expect(together * 5).toBeLessThan(oneByOne)
})

test('a failing append in a group rolls back alone; the group’s other appends commit', async () => {
  const store = new StreamStore()
  try {
    await store.create({ name: 's', contentType: 'application/json', kind: 'state' })
    const body = (value: unknown) => Buffer.from(JSON.stringify(value))
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
    expect((await store.entriesAfter(await store.get('s'), 0, 10)).map((e) => e.seq)).toEqual([1, 2, 3])
    // The global position counts only what was stored.
    expect(store.gpos).toBe(3)
  } finally {
    await store.close()
  }
})

test('a closed store refuses writes with SHUTTING_DOWN but finishes those already queued', async () => {
  const store = new StreamStore()
  await store.create({ name: 's', contentType: 'text/plain', kind: 'plain' })
  const queued = store.append({ name: 's', contentType: 'text/plain', body: Buffer.from('x') })
  const closing = store.close()
  await expect(store.append({ name: 's', contentType: 'text/plain', body: Buffer.from('y') })).rejects.toMatchObject({
    code: 'SHUTTING_DOWN',
  })
  await expect(queued).resolves.toMatchObject({ status: 'appended', headSeq: 1 })
  await closing
})
