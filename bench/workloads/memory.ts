/**
 * Workload 5, Memory.
 * - Server RSS per idle live connection: each server alone in its process, `N` idle SSE readers
 *   (in another process) on one stream; RSS after a full GC (read over the admin channel) with 100
 *   readers and with `N`; the difference divided by the added readers. Peers: the Durable Streams
 *   reference server's SSE tail and the bare Node `http` SSE server.
 * - Client heap holding 100 windows of a stream whose state is 1 MB (32 × 32 members of 1 KB),
 *   10 entries per window, each entry changing one member: the heap they take against one parsed
 *   state (`readers/client-heap.ts`).
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { start } from '../lib/proc.ts'
import { call, pool } from '../lib/load.ts'
import { fmt, median, sleep } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

const STREAM = 'bench/idle'
const BASE_READERS = 100

/** VmRSS of a process, bytes, from `/proc/<pid>/status` (NaN where there is no /proc). */
function procRss(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match ? Number(match[1]) * 1024 : Number.NaN
  } catch {
    return Number.NaN
  }
}

interface PerConnection {
  rssKb: number
  heapKb: number
}

async function idleConnections(ctx: Context, name: 'statestream' | 'durable' | 'bare', readers: number): Promise<PerConnection> {
  const script = name === 'statestream' ? 'servers/statestream.ts' : name === 'durable' ? 'servers/durable.ts' : 'servers/bare-sse.ts'
  const args = name === 'statestream' ? { file: join(ctx.tmp, 'idle.db') } : name === 'durable' ? { dataDir: join(ctx.tmp, 'idle-ds') } : {}
  const server = await start<{ url: string; pid: number }>(name, script, args, { nodeArgs: ['--expose-gc'] })
  const reader = await start<unknown>(`idle-readers-${name}`, 'readers/sse-readers.ts')
  const url = server.ready.url
  try {
    if (name !== 'bare') {
      const p = pool(url, 1)
      const headers: Record<string, string> = { 'content-type': 'application/json' }
      if (name === 'statestream') headers['stream-kind'] = 'state'
      await call(p, 'PUT', `/v1/stream/${STREAM}`, { headers })
      for (let i = 0; i < 10; i++) await call(p, 'POST', `/v1/stream/${STREAM}`, { headers: { 'content-type': 'application/json' }, body: `{"merge":{"k${i}":${i}}}` })
      await p.close()
    }
    const readUrl =
      name === 'statestream' ? `${url}/v1/live/${STREAM}` : name === 'durable' ? `${url}/v1/stream/${STREAM}?offset=now&live=sse` : `${url}/sse`
    const measure = async (): Promise<{ rss: number; heap: number }> => {
      await sleep(500)
      const usage = await server.child.call<NodeJS.MemoryUsage>('memory')
      const rss = procRss(server.ready.pid)
      return { rss: Number.isFinite(rss) ? rss : usage.rss, heap: usage.heapUsed }
    }
    await reader.child.call('open', { url: readUrl, count: BASE_READERS })
    const before = await measure()
    await reader.child.call('open', { url: readUrl, count: readers - BASE_READERS }, 300_000)
    const after = await measure()
    const added = readers - BASE_READERS
    const result = { rssKb: (after.rss - before.rss) / added / 1024, heapKb: (after.heap - before.heap) / added / 1024 }
    ctx.log(`memory: ${name}: ${fmt(result.rssKb, 2)} KB RSS, ${fmt(result.heapKb, 2)} KB heap per idle live connection`)
    return result
  } finally {
    await Promise.all([reader.child.stop(), server.child.stop()])
  }
}

/** A state of about 1 MB: 32 groups of 32 members of 1 KB strings. */
function bigState(): Record<string, Record<string, string>> {
  const state: Record<string, Record<string, string>> = {}
  for (let g = 0; g < 32; g++) {
    const group: Record<string, string> = {}
    for (let k = 0; k < 32; k++) group[`k${k}`] = `${g}.${k}:`.padEnd(1000, 'x')
    state[`g${g}`] = group
  }
  return state
}

async function clientHeap(ctx: Context): Promise<{ stateBytes: number; oneState: number; client: number; shared: number; heldWindows: number }> {
  const server = await start<{ url: string }>('statestream', 'servers/statestream.ts', { file: join(ctx.tmp, 'big.db') })
  try {
    const url = server.ready.url
    const p = pool(url, 1)
    await call(p, 'PUT', '/v1/stream/bench/big', {
      headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '10' },
      body: JSON.stringify([{ set: bigState() }]),
    })
    // 1,010 entries of one changed member each: 101 windows of 10 entries after the first.
    for (let batch = 0; batch < 101; batch++) {
      const messages = []
      for (let i = 0; i < 10; i++) {
        const n = batch * 10 + i
        messages.push({ merge: { [`g${n % 32}`]: { [`k${(n * 7) % 32}`]: `changed ${n}`.padEnd(60, '.') } } })
      }
      await call(p, 'POST', '/v1/stream/bench/big', { headers: { 'content-type': 'application/json' }, body: JSON.stringify(messages) })
    }
    await p.close()
    const heap = await start<unknown>('client-heap', 'readers/client-heap.ts', {}, { nodeArgs: ['--expose-gc'] })
    try {
      return await heap.child.call('measure', { url, stream: 'bench/big', windows: 100 }, 300_000)
    } finally {
      await heap.child.stop()
    }
  } finally {
    await server.child.stop()
  }
}

export async function memoryWorkload(ctx: Context): Promise<Row[]> {
  const readers = ctx.quick ? 1000 : 5000
  const rounds = ctx.quick ? 1 : 2
  const figures: Record<string, PerConnection[]> = { statestream: [], durable: [], bare: [] }
  for (let round = 0; round < rounds; round++) {
    for (const name of ['statestream', 'durable', 'bare'] as const) {
      try {
        figures[name]?.push(await idleConnections(ctx, name, readers))
      } catch (error) {
        ctx.log(`memory: ${name} failed: ${(error as Error).message}`)
      }
    }
  }
  const rss = (name: string): number[] => (figures[name] ?? []).map((figure) => figure.rssKb)
  const heapOf = (name: string): number => median((figures[name] ?? []).map((figure) => figure.heapKb))
  const s = median(rss('statestream'))
  const d = median(rss('durable'))
  const b = median(rss('bare'))
  const heap = await clientHeap(ctx)
  ctx.log(`memory: client: one state ${fmt(heap.oneState / 1024)} KB heap; 100 windows held by the client ${fmt(heap.client / 1024)} KB; rebuilt by apply ${fmt(heap.shared / 1024)} KB`)
  const clientRatio = heap.client / heap.oneState
  return [
    {
      workload: '5 Memory',
      metric: `server RSS per idle live connection, ${fmt(readers)} connections`,
      unit: 'KB',
      statestream: s,
      peer: 'Durable Streams ref. server (SSE tail)',
      peerValue: d,
      ratio: d / s,
      ratioMeaning: 'peer / statestream',
      target: '≤ 20 KB each',
      met: Number.isFinite(s) ? s <= 20 : null,
      rounds: { statestream: rss('statestream'), peer: rss('durable') },
      note:
        `${ctx.quick ? `QUICK: ${fmt(readers)} connections, not 5,000. ` : ''}bare Node http SSE server: ${fmt(b, 2)} KB (statestream / bare ${fmt(s / b, 1)}×). ` +
        `JS heap per connection: statestream ${fmt(heapOf('statestream'), 2)} KB, peer ${fmt(heapOf('durable'), 2)} KB, bare ${fmt(heapOf('bare'), 2)} KB.`,
    },
    {
      workload: '5 Memory',
      metric: `client heap holding 100 windows (10 entries each) of a ${fmt(heap.stateBytes / 1e6, 2)} MB state`,
      unit: '× one state',
      statestream: clientRatio,
      peer: 'the same windows rebuilt by apply (structural sharing)',
      peerValue: heap.shared / heap.oneState,
      ratio: clientRatio,
      ratioMeaning: 'client heap / one parsed state',
      target: '≤ 3×',
      met: clientRatio <= 3,
      note:
        `one parsed state ${fmt(heap.oneState / 1024)} KB of heap; the client's 100 windows ${fmt(heap.client / 1024)} KB ` +
        `(${heap.heldWindows} windows held); rebuilt by apply ${fmt(heap.shared / 1024)} KB.`,
    },
  ]
}
