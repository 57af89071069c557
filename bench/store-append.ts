/**
 * `node --conditions=source --import tsx store-append.ts [rounds]`: the server's append path without HTTP. A
 * `StreamStore` on a file takes workload 1's batches (100 messages of 100 bytes) 32 at a time, as
 * 32 connections would hand them over, and the process's CPU per entry is printed (the checkpoint
 * worker included). CPU time rather than throughput, and the best round next to the median: on a
 * shared machine the slowest rounds say more about the neighbours than about the code. How the
 * effect of a change to the store's write path was measured (bench/README.md).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StreamStore } from '@statestream/server'
import { batchBody } from './lib/load.ts'

const rounds = Number(process.argv[2] ?? 12)
const CONCURRENT = 32
const BATCHES_PER_ROUND = 100
const dir = mkdtempSync(join(tmpdir(), 'store-append-'))
const store = new StreamStore({ file: join(dir, 'append.db') })
try {
  await store.create({ name: 'bench', contentType: 'application/json', kind: 'state' })
  const bodies = Array.from({ length: 64 }, (_, i) => Buffer.from(batchBody(100, i * 100)))
  const perEntry: number[] = []
  for (let round = 0; round < rounds; round++) {
    const cpu = process.cpuUsage()
    for (let k = 0; k < BATCHES_PER_ROUND; k++) {
      const appends = Array.from({ length: CONCURRENT }, (_, j) =>
        store.append({ name: 'bench', contentType: 'application/json', body: bodies[(k * CONCURRENT + j) % bodies.length] as Buffer }),
      )
      await Promise.all(appends)
    }
    const used = process.cpuUsage(cpu)
    perEntry.push((used.user + used.system) / (BATCHES_PER_ROUND * CONCURRENT * 100))
  }
  perEntry.sort((a, b) => a - b)
  const median = perEntry[Math.floor(perEntry.length / 2)] ?? 0
  console.log(`CPU per entry: median ${median.toFixed(2)} µs, best ${(perEntry[0] ?? 0).toFixed(2)} µs (${rounds} rounds of ${BATCHES_PER_ROUND * CONCURRENT * 100} entries)`)
} finally {
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}
