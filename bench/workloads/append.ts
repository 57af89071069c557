/**
 * Workload 1, Append: 100-byte JSON merge mutations.
 * - single-message POSTs over 32 keep-alive connections: statestream (a state stream: every
 *   message validated and applied) against its ceiling, a bare Fastify server whose POST does
 *   nothing (`servers/bare-fastify.ts`, the same harness), and for scale the Durable Streams
 *   reference server (the same bytes on a JSON stream);
 * - batched POSTs of 100 messages (a JSON array): entries/s, against the raw better-sqlite3
 *   ceiling of the same rows in batches of 100 (written the best way raw SQLite allows, see
 *   `lib/sqlite-ceiling.ts`), and the reference server for scale.
 * Rounds alternate between the servers, and each round ends with a round of the SQLite ceiling,
 * so that noise from other work on the machine falls on every figure and its ceiling alike.
 */
import { join } from 'node:path'
import type { Child } from '../lib/proc.ts'
import { cpuSeconds, start } from '../lib/proc.ts'
import { batchBody, call, mutations, pool, postLoad } from '../lib/load.ts'
import { sqliteCeiling } from '../lib/sqlite-ceiling.ts'
import { fmt, median } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

const CONNECTIONS = 32
const BATCH = 100
const STATE_HEADERS = { 'content-type': 'application/json', 'stream-kind': 'state' }
const JSON_HEADERS = { 'content-type': 'application/json' }

interface Target {
  name: string
  url: string
  child: Child
}

export async function appendWorkload(ctx: Context): Promise<Row[]> {
  const rounds = ctx.quick ? 2 : 5
  const seconds = ctx.quick ? 1 : 3
  const warmup = ctx.quick ? 0.3 : 1.5
  const singles = mutations(256)
  const batches = Array.from({ length: 16 }, (_, i) => batchBody(BATCH, i * BATCH))

  const ss = await start<{ url: string }>('statestream', 'servers/statestream.ts', { file: join(ctx.tmp, 'append.db') }, { nodeArgs: ctx.serverNodeArgs })
  const ds = await start<{ url: string }>('durable-streams', 'servers/durable.ts', { dataDir: join(ctx.tmp, 'append-ds') })
  const bare = await start<{ url: string }>('bare-fastify', 'servers/bare-fastify.ts')
  const targets: Target[] = [
    { name: 'statestream', url: ss.ready.url, child: ss.child },
    { name: 'bare-fastify', url: bare.ready.url, child: bare.child },
    { name: 'durable', url: ds.ready.url, child: ds.child },
  ]
  // The same-durability comparison is for full runs; --quick keeps to the targets.
  if (!ctx.quick) {
    const ssFull = await start<{ url: string }>('statestream-full', 'servers/statestream.ts', {
      file: join(ctx.tmp, 'append-full.db'),
      durability: 'full',
    })
    targets.push({ name: 'statestream-full', url: ssFull.ready.url, child: ssFull.child })
  }
  const figures: Record<string, { single: number[]; batch: number[] }> = {}
  /** Per target and kind: the server's and the load generator's CPU use (cores) over the rounds. */
  const busy: Record<string, { server: number[]; loader: number[] }> = {}
  const errors: string[] = []
  const ceiling: number[] = []
  const plainCeiling: number[] = []
  try {
    for (const target of targets) {
      figures[target.name] = { single: [], batch: [] }
      const p = pool(target.url, 1)
      const headers = target.name === 'durable' ? JSON_HEADERS : STATE_HEADERS
      await call(p, 'PUT', '/v1/stream/bench/single', { headers })
      await call(p, 'PUT', '/v1/stream/bench/batch', { headers })
      await p.close()
    }
    const measure = async (target: Target, kind: 'single' | 'batch', secs: number): Promise<number> => {
      const p = pool(target.url, CONNECTIONS)
      const serverBefore = cpuSeconds(target.child.pid)
      const loaderBefore = process.cpuUsage()
      try {
        const result = await postLoad(p, `/v1/stream/bench/${kind}`, kind === 'single' ? singles : batches, CONNECTIONS, secs)
        const loader = process.cpuUsage(loaderBefore)
        const use = (busy[`${target.name} ${kind}`] ??= { server: [], loader: [] })
        use.server.push((cpuSeconds(target.child.pid) - serverBefore) / result.seconds)
        use.loader.push((loader.user + loader.system) / 1e6 / result.seconds)
        if (result.errors > 0) errors.push(`${target.name} ${kind}: ${result.errors} errors (${result.firstError})`)
        return result.rate * (kind === 'batch' ? BATCH : 1)
      } finally {
        await p.close()
      }
    }
    ctx.log(`append: warm-up`)
    for (const target of targets) {
      await measure(target, 'single', warmup)
      await measure(target, 'batch', warmup)
    }
    await sqliteCeiling(join(ctx.tmp, 'ceiling.db'), BATCH, warmup, 'tuned')
    // Every round measures each server and then the raw SQLite ceiling, so the ceilings see the
    // same machine as the figures they bound.
    for (let round = 0; round < rounds; round++) {
      for (const kind of ['single', 'batch'] as const) {
        for (const target of targets) {
          const rate = await measure(target, kind, seconds)
          figures[target.name]?.[kind].push(rate)
          ctx.log(`append: round ${round + 1}/${rounds} ${target.name} ${kind}: ${fmt(rate)} entries/s`)
        }
      }
      ceiling.push(await sqliteCeiling(join(ctx.tmp, 'ceiling.db'), BATCH, seconds, 'tuned'))
      plainCeiling.push(await sqliteCeiling(join(ctx.tmp, 'ceiling-plain.db'), BATCH, seconds, 'plain'))
      ctx.log(
        `append: round ${round + 1}/${rounds} raw SQLite ceiling: ${fmt(ceiling.at(-1) ?? 0)} rows/s ` +
          `(one row per statement, checkpoints on the writer: ${fmt(plainCeiling.at(-1) ?? 0)})`,
      )
    }
  } finally {
    await Promise.all(targets.map((target) => target.child.stop()))
  }

  const get = (name: string, kind: 'single' | 'batch'): number[] => figures[name]?.[kind] ?? []
  const ssSingle = median(get('statestream', 'single'))
  const dsSingle = median(get('durable', 'single'))
  const ssBatch = median(get('statestream', 'batch'))
  const dsBatch = median(get('durable', 'batch'))
  const bareSingle = median(get('bare-fastify', 'single'))
  const bareBatch = median(get('bare-fastify', 'batch'))
  const fullSingle = median(get('statestream-full', 'single'))
  const fullBatch = median(get('statestream-full', 'batch'))
  const rawCeiling = median(ceiling)
  const cores = (key: string): string => {
    const use = busy[key]
    return use ? `server ${fmt(median(use.server), 2)} cores, load generator ${fmt(median(use.loader), 2)} cores` : 'n/a'
  }
  const errorNote = errors.length > 0 ? ` Errors: ${errors.join('; ')}.` : ''
  const peerName = 'Durable Streams ref. server (JSON stream, file-backed)'
  return [
    {
      workload: '1 Append',
      metric: `single-message POSTs of 100 B, ${CONNECTIONS} keep-alive connections${ctx.quick ? ` (QUICK: ${rounds} rounds of ${seconds} s)` : ''}`,
      unit: 'appends/s',
      statestream: ssSingle,
      peer: 'bare Fastify no-op POST (same harness, body read as a Buffer, 204)',
      peerValue: bareSingle,
      ratio: ssSingle / bareSingle,
      ratioMeaning: 'fraction of the ceiling',
      target: '≥ 0.85 of the ceiling',
      met: ssSingle / bareSingle >= 0.85,
      rounds: { statestream: get('statestream', 'single'), peer: get('bare-fastify', 'single') },
      note: `CPU while measured: statestream ${cores('statestream single')}; bare Fastify ${cores('bare-fastify single')}.${errorNote}`,
    },
    {
      workload: '1 Append',
      metric: `single-message POSTs of 100 B, ${CONNECTIONS} keep-alive connections (against the peer)`,
      unit: 'appends/s',
      statestream: ssSingle,
      peer: peerName,
      peerValue: dsSingle,
      ratio: ssSingle / dsSingle,
      ratioMeaning: 'statestream / peer',
      target: '≥ 1.5×',
      met: ssSingle / dsSingle >= 1.5,
      rounds: { statestream: get('statestream', 'single'), peer: get('durable', 'single') },
      note: `CPU while measured: peer ${cores('durable single')}.`,
    },
    {
      workload: '1 Append',
      metric: `batched POSTs of ${BATCH} × 100 B, ${CONNECTIONS} connections`,
      unit: 'entries/s',
      statestream: ssBatch,
      peer: 'raw better-sqlite3 inserts, same rows, 100 per transaction, statements of 64/16/4 rows, checkpoints by a worker',
      peerValue: rawCeiling,
      ratio: ssBatch / rawCeiling,
      ratioMeaning: 'fraction of the ceiling',
      target: '≥ 0.8 of the ceiling',
      met: ssBatch / rawCeiling >= 0.8,
      rounds: { statestream: get('statestream', 'batch'), peer: ceiling },
      note:
        `CPU while measured: statestream ${cores('statestream batch')}. ` +
        `Raw inserts one row per statement with SQLite's checkpoints on the writer (the simplest loop): ` +
        `${fmt(median(plainCeiling))} rows/s (statestream ${fmt(ssBatch / median(plainCeiling), 2)}× that). ` +
        `The bare Fastify no-op server took the same batched POSTs at ${fmt(bareBatch)} entries/s (HTTP alone; ${cores('bare-fastify batch')}).`,
    },
    {
      workload: '1 Append',
      metric: `batched POSTs of ${BATCH} × 100 B (for scale)`,
      unit: 'entries/s',
      statestream: ssBatch,
      peer: peerName,
      peerValue: dsBatch,
      ratio: ssBatch / dsBatch,
      ratioMeaning: 'statestream / peer',
      target: '—',
      met: null,
      rounds: { statestream: get('statestream', 'batch'), peer: get('durable', 'batch') },
    },
    ...(ctx.quick
      ? []
      : [
          {
            workload: '1 Append',
            metric: 'single-message POSTs, statestream with --durability full (fsync per commit, as the peer)',
            unit: 'appends/s',
            statestream: fullSingle,
            peer: peerName,
            peerValue: dsSingle,
            ratio: fullSingle / dsSingle,
            ratioMeaning: 'statestream / peer',
            target: '— (same durability as the peer)',
            met: null,
            rounds: { statestream: get('statestream-full', 'single'), peer: get('durable', 'single') },
            note: `batched with full durability: ${fmt(fullBatch)} entries/s`,
          },
        ]),
  ]
}
