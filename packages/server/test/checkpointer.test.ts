/**
 * WAL checkpoints by the worker thread: pages reach the database file while the writer goes on,
 * a close leaves no WAL behind, and checkpoints racing a stream of writes lose nothing.
 */
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { expect } from 'vitest'
import { Checkpointer } from '../src/checkpointer.ts'
import { StreamStore } from '../src/stream-store.ts'
import { test } from './support.ts'

const JSON_TYPE = 'application/json'
const batch = (from: number, size: number) =>
  Buffer.from(JSON.stringify(Array.from({ length: size }, (_, i) => ({ merge: { [`k${(from + i) % 16}`]: `value ${from + i} `.padEnd(80, '.') } }))))

async function fill(store: StreamStore, batches: number): Promise<void> {
  await store.create({ name: 's', contentType: JSON_TYPE, kind: 'state' })
  await Promise.all(Array.from({ length: batches }, (_, b) => store.append({ name: 's', contentType: JSON_TYPE, body: batch(b * 100, 100) })))
}

async function eventually(check: () => boolean, timeoutMs = 20_000): Promise<boolean> {
  for (const started = Date.now(); Date.now() - started < timeoutMs; ) {
    if (check()) return true
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return check()
}

test('the worker copies committed pages into the database file long before SQLite’s own threshold', async ({ tmp }) => {
  // 2,000 entries are about 70 pages, far below the 1,000 pages at which the writer checkpoints.
  const withWorker = join(tmp, 'worker.db')
  const store = new StreamStore({ file: withWorker, checkpointMs: 5 })
  const before = statSync(withWorker).size
  await fill(store, 20)
  expect(await eventually(() => statSync(withWorker).size - before > 150_000)).toBe(true)
  await store.close()

  // Without the worker the same writes stay in the WAL until the threshold or the close.
  const alone = join(tmp, 'alone.db')
  const control = new StreamStore({ file: alone, checkpointMs: 0 })
  const size = statSync(alone).size
  await fill(control, 20)
  await new Promise((resolve) => setTimeout(resolve, 100))
  expect(statSync(alone).size).toBe(size)
  expect(statSync(`${alone}-wal`).size).toBeGreaterThan(150_000)
  await control.close()
})

test('a close stops the worker and leaves no WAL; the file reopens whole', async ({ tmp }) => {
  const file = join(tmp, 'close.db')
  const store = new StreamStore({ file, checkpointMs: 1 })
  await fill(store, 10)
  const head = await store.headState('s')
  await store.close()
  expect(existsSync(`${file}-wal`)).toBe(false)

  const reopened = new StreamStore({ file })
  try {
    expect(await reopened.headState('s')).toEqual(head)
    expect((await reopened.entriesAfter(await reopened.get('s'), 0, 2_000)).map((e) => e.seq)).toEqual(Array.from({ length: 1_000 }, (_, i) => i + 1))
  } finally {
    await reopened.close()
  }
})

test('checkpoints racing a stream of writes lose nothing and leave the file consistent', async ({ tmp }) => {
  const file = join(tmp, 'race.db')
  const store = new StreamStore({ file, checkpointMs: 1 })
  await store.create({ name: 's', contentType: JSON_TYPE, kind: 'state' })
  // 50 rounds of 8 concurrent batches, each round a group commit racing the worker's checkpoints.
  for (let round = 0; round < 50; round++) {
    await Promise.all(Array.from({ length: 8 }, (_, b) => store.append({ name: 's', contentType: JSON_TYPE, body: batch((round * 8 + b) * 10, 10) })))
  }
  const head = await store.headState('s')
  expect(head.seq).toBe(4_000)
  await store.close()

  const db = new Database(file, { readonly: true })
  try {
    expect(db.pragma('integrity_check', { simple: true })).toBe('ok')
    expect(db.prepare('SELECT count(*) AS n, max(seq) AS last FROM entries').get()).toEqual({ n: 4_000, last: 4_000 })
  } finally {
    db.close()
  }
  const reopened = new StreamStore({ file })
  try {
    expect(await reopened.headState('s')).toEqual(head)
  } finally {
    await reopened.close()
  }
})

test('the worker checkpoints only after commits: an idle database costs it nothing', async ({ tmp }) => {
  const { db, worker, write } = smallWrites(join(tmp, 'idle.db'))
  try {
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(worker.checkpoints).toBe(0)
    for (let n = 0; n < 20; n++) write(n)
    expect(await eventually(() => worker.checkpoints > 0 && worker.caughtUp)).toBe(true)
    // Idle: however long the wait, no checkpoint runs.
    const idle = worker.checkpoints
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(worker.checkpoints).toBe(idle)
    // The next commit wakes it again.
    write(20)
    expect(await eventually(() => worker.checkpoints > idle)).toBe(true)
  } finally {
    await worker.close()
    db.close()
  }
})

test('under a light load the worker checkpoints less often than its shortest interval, and still catches up', async ({ tmp }) => {
  const { db, worker, write } = smallWrites(join(tmp, 'light.db'))
  try {
    // A row every few ms: a page or two per commit, far fewer than a checkpoint is worth.
    const started = performance.now()
    for (let n = 0; n < 60; n++) {
      write(n)
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
    const checkpoints = worker.checkpoints
    const elapsed = performance.now() - started
    // At its shortest interval (5 ms) the worker would checkpoint after nearly every commit:
    // about 60 here, one per 5 ms of the run. Backing off to 16 times that (80 ms), it takes a few
    // checkpoints to get there, then at most one per 80 ms: allowed four times that, and ten for
    // the ramp. On a machine so busy that the commits come 20 ms or more apart, this can no longer
    // tell the two apart; it does not fail for it.
    expect(checkpoints).toBeGreaterThan(0)
    expect(checkpoints, `${checkpoints} checkpoints in ${Math.round(elapsed)} ms`).toBeLessThan(10 + elapsed / 20)
    expect(await eventually(() => worker.caughtUp)).toBe(true)
  } finally {
    await worker.close()
    db.close()
  }
})

/** A WAL database of one small table, its checkpoint worker (5 ms at the shortest), and a one-row commit. */
function smallWrites(file: string): { db: Database.Database; worker: Checkpointer; write: (n: number) => void } {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec('CREATE TABLE t (n INTEGER)')
  const worker = new Checkpointer(file, 'normal', 5)
  const write = (n: number): void => {
    db.prepare('INSERT INTO t (n) VALUES (?)').run(n)
    worker.committed()
  }
  return { db, worker, write }
}
