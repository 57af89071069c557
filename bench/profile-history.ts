/**
 * `node --conditions=source --import tsx profile-history.ts [entries] [--keep <bytes>]`: the client side of workload 3
 * under the profiler. Builds a state stream of `entries` (default 300,000) on a statestream server
 * of its own, reads it once with `history()` to warm up, then profiles three more reads with
 * `node:inspector` and writes `results/profiles/history-client.cpuprofile` (summarise it with
 * `lib/profile-summary.ts`). Prints each read's rate and the client's CPU per entry.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { Session } from 'node:inspector/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { StateStreamClient } from '@statestream/client'
import { batchBody, call, pool } from './lib/load.ts'
import { start } from './lib/proc.ts'

const { values, positionals } = parseArgs({ options: { keep: { type: 'string' } }, allowPositionals: true })
const entries = Number(positionals[0] ?? 300_000)
const keep = Number(values.keep ?? 16 * 1024 * 1024)
const STREAM = 'profile/history'

const server = await start<{ url: string }>('statestream', 'servers/statestream.ts', {
  file: join(mkdtempSync(join(tmpdir(), 'statestream-profile-')), 'history.db'),
})
try {
  const url = server.ready.url
  const p = pool(url, 4)
  await call(p, 'PUT', `/v1/stream/${STREAM}`, { headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
  for (let from = 0; from < entries; from += 1000) {
    await call(p, 'POST', `/v1/stream/${STREAM}`, { headers: { 'content-type': 'application/json' }, body: batchBody(Math.min(1000, entries - from), from) })
  }
  await p.close()

  const read = async (): Promise<void> => {
    const client = new StateStreamClient({ baseUrl: url, maxBytes: keep })
    const cpu = process.cpuUsage()
    const started = performance.now()
    await new Promise<void>((resolve, reject) => {
      client.stream(STREAM).history({ from: 0, to: Number.MAX_SAFE_INTEGER }).subscribe({ error: reject, complete: resolve })
    })
    const seconds = (performance.now() - started) / 1000
    const used = process.cpuUsage(cpu)
    await client.close()
    console.log(`${Math.round(entries / seconds)} entries/s, client CPU ${((used.user + used.system) / entries).toFixed(2)} µs/entry`)
  }

  await read()
  const session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
  for (let round = 0; round < 3; round++) await read()
  const { profile } = await session.post('Profiler.stop')
  const dir = join(import.meta.dirname, 'results', 'profiles')
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, 'history-client.cpuprofile'), JSON.stringify(profile))
  console.log(`wrote ${join(dir, 'history-client.cpuprofile')}`)
} finally {
  await server.child.stop()
}
