/**
 * `node --conditions=source --import tsx fork-cost.ts [forks]`: what a fork costs, by the length of
 * its source. A `StreamStore` on a file grows a state stream and a plain stream to 1k, 10k, 100k and
 * 1M entries (workload 1's 100-byte messages, 100 per append); at each length it forks each source
 * `forks` times at its head, `forks` times at a random seq and (the state stream) `forks` times at a
 * random time (`Stream-Fork-At`), each fork created and committed alone. Printed: the median and
 * 90th percentile time per fork, and the bytes the database file grew per fork (measured after a
 * full checkpoint, over all the forks of a length). A fork reads through to its source, so neither
 * should grow with the source's length. Results in `results/fork-cost.json`.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { StreamStore } from '@statestream/server'
import type { ForkRequest } from '@statestream/server'
import { batchBody } from './lib/load.ts'

const FORKS = Number(process.argv[2] ?? 200)
const LENGTHS = [1_000, 10_000, 100_000, 1_000_000]
const BATCH = 100
const CONCURRENT = 32

interface Row {
  source: 'state' | 'plain'
  entries: number
  point: 'head' | 'random seq' | 'random time'
  medianMs: number
  p90Ms: number
  bytesPerFork: number
}

const dir = mkdtempSync(join(tmpdir(), 'fork-cost-'))
const file = join(dir, 'forks.db')
// No worker checkpoints: the file is measured after explicit ones.
const store = new StreamStore({ file, checkpointMs: 0 })
const rows: Row[] = []
let forkCount = 0

/** The database file's size once every committed page is in it. */
function fileBytes(): number {
  const db = new Database(file)
  db.pragma('wal_checkpoint(TRUNCATE)')
  db.close()
  return statSync(file).size
}

async function grow(name: string, contentType: string, to: number, body: (i: number) => Buffer): Promise<void> {
  let head = (await store.get(name)).headSeq
  while (head < to) {
    const count = Math.min(CONCURRENT, Math.ceil((to - head) / BATCH))
    await Promise.all(Array.from({ length: count }, (_, j) => store.append({ name, contentType, body: body(head / BATCH + j) })))
    head = (await store.get(name)).headSeq
  }
}

async function forks(name: string, source: Row['source'], point: Row['point'], entries: number): Promise<void> {
  const info = await store.get(name)
  const before = fileBytes()
  const ms: number[] = []
  for (let i = 0; i < FORKS; i++) {
    const fork: ForkRequest = { source: name }
    if (point === 'random seq') fork.offset = 1 + Math.floor(Math.random() * info.headSeq)
    if (point === 'random time') fork.at = info.createdTs + Math.floor(Math.random() * (info.headTs - info.createdTs + 1))
    const start = performance.now()
    await store.create({ name: `fork/${forkCount++}`, fork })
    ms.push(performance.now() - start)
  }
  const bytesPerFork = (fileBytes() - before) / FORKS
  ms.sort((a, b) => a - b)
  const at = (q: number): number => ms[Math.min(ms.length - 1, Math.floor(q * ms.length))] ?? 0
  rows.push({ source, entries, point, medianMs: at(0.5), p90Ms: at(0.9), bytesPerFork })
  const row = rows[rows.length - 1] as Row
  console.log(
    `${source.padEnd(5)} ${String(entries).padStart(9)} entries, fork at ${point.padEnd(11)}: median ${row.medianMs.toFixed(3)} ms, p90 ${row.p90Ms.toFixed(3)} ms, ${row.bytesPerFork.toFixed(0)} bytes per fork`,
  )
}

try {
  await store.create({ name: 'src/state', contentType: 'application/json', kind: 'state' })
  await store.create({ name: 'src/plain', contentType: 'application/octet-stream', kind: 'plain' })
  const stateBodies = Array.from({ length: 64 }, (_, i) => Buffer.from(batchBody(BATCH, i * BATCH)))
  const plainBody = Buffer.alloc(100, 120)
  for (const entries of LENGTHS) {
    const started = performance.now()
    await grow('src/state', 'application/json', entries, (i) => stateBodies[i % stateBodies.length] as Buffer)
    // A plain source takes one entry per append; its batches are appended as they come.
    let head = (await store.get('src/plain')).headSeq
    while (head < entries) {
      const count = Math.min(CONCURRENT * BATCH, entries - head)
      await Promise.all(Array.from({ length: count }, () => store.append({ name: 'src/plain', contentType: 'application/octet-stream', body: plainBody })))
      head = (await store.get('src/plain')).headSeq
    }
    console.log(`sources at ${entries} entries (${((performance.now() - started) / 1000).toFixed(1)} s to grow)`)
    await forks('src/state', 'state', 'head', entries)
    await forks('src/state', 'state', 'random seq', entries)
    await forks('src/state', 'state', 'random time', entries)
    await forks('src/plain', 'plain', 'head', entries)
    await forks('src/plain', 'plain', 'random seq', entries)
  }
  const result = { forksPerRow: FORKS, at: new Date().toISOString(), rows }
  writeFileSync(new URL('./results/fork-cost.json', import.meta.url), `${JSON.stringify(result, null, 2)}\n`)
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
