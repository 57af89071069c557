/**
 * Workload 6, Replicas: statestream on PostgreSQL with 1, 2 and 3 replicas (server processes on
 * one schema of one durable PostgreSQL server, `lib/postgres.ts`) against the SQLite single node,
 * all in one run, each configuration alone on the machine:
 * - single-message POSTs of 100 B from 32 keep-alive connections, split evenly over the replicas,
 *   all to one state stream (the worst case: every append serialises on the same stream);
 * - batched POSTs of 100 messages, the same way;
 * - live p99 at 100 SSE readers spread evenly over the replicas, one writer at 50 appends/s on the
 *   first replica: on 2 and 3 replicas most readers hear of an append through another replica's
 *   change feed (NOTIFY, then one read of what was committed).
 * PostgreSQL's own ceiling is measured in the same run on the same server, with no statestream
 * process running: raw `pg` inserts of the same rows (`lib/pg-ceiling.ts`), 100 per transaction
 * from 1 and from 4 connections (the better counts) against the batched POSTs, and one per
 * transaction from 32 connections against the single-message POSTs.
 * Each row's note says what bounds it: the CPU the servers and the whole machine used, the group
 * commits per second and their mean time from start to commit (the servers' `/metrics`; on
 * PostgreSQL that includes waiting for the position row's lock), and the time in commits per
 * second summed over the servers.
 */
import { readFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import type { Child } from '../lib/proc.ts'
import { cpuSeconds, start } from '../lib/proc.ts'
import { batchBody, call, mutations, pool, postLoad } from '../lib/load.ts'
import { pgCeiling } from '../lib/pg-ceiling.ts'
import { startPostgres } from '../lib/postgres.ts'
import { fmt, median, nowUs, sleep } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

const CONNECTIONS = 32
const BATCH = 100
const READERS = 100
/** Appends per second of the live writer. */
const RATE = 50
const STATE_HEADERS = { 'content-type': 'application/json', 'stream-kind': 'state' }
const JSON_HEADERS = { 'content-type': 'application/json' }

interface Collected {
  samples: number
  missing: number
  p50: number
  p99: number
}

/** What one configuration measured. */
interface Figures {
  name: string
  single: number[]
  batch: number[]
  p99: number[]
  p50: number[]
  missing: number
  /** Raw PostgreSQL rows/s per round, for the 1-replica configuration: batches of 100 (best of 1 and 4 connections) and single rows from 32. */
  ceiling?: { batch: number[]; single: number[]; batchBy: Array<{ one: number; four: number }> }
  /** Per measure: cores the servers used, cores the whole machine used, commits/s, mean commit ms. */
  use: Record<string, Array<{ servers: number; machine: number; commits: number; commitMs: number }>>
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineTicks(): { busy: number; total: number } {
  try {
    const fields = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number)
    const total = fields.reduce((sum, value) => sum + (Number.isFinite(value) ? value : 0), 0)
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0)
    return { busy: total - idle, total }
  } catch {
    return { busy: Number.NaN, total: Number.NaN }
  }
}

/** The group commits a server has made so far and their total time (seconds), from its /metrics. */
async function commits(url: string): Promise<{ count: number; seconds: number }> {
  const p = pool(url, 1)
  try {
    const { text } = await call(p, 'GET', '/metrics')
    const value = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN)
    return { count: value('statestream_group_commit_duration_seconds_count'), seconds: value('statestream_group_commit_duration_seconds_sum') }
  } finally {
    await p.close()
  }
}

/** Runs `work` and records what it cost: the servers' CPU, the machine's, the group commits. */
async function measured<T extends { seconds: number }>(servers: Array<{ url: string; child: Child }>, into: Figures['use'][string], work: () => Promise<T>): Promise<T> {
  const cpuBefore = servers.map((server) => cpuSeconds(server.child.pid))
  const machineBefore = machineTicks()
  const commitsBefore = await Promise.all(servers.map((server) => commits(server.url)))
  const result = await work()
  const machineAfter = machineTicks()
  const commitsAfter = await Promise.all(servers.map((server) => commits(server.url)))
  const serverCpu = servers.reduce((sum, server, i) => sum + cpuSeconds(server.child.pid) - (cpuBefore[i] as number), 0)
  const count = commitsAfter.reduce((sum, after, i) => sum + after.count - (commitsBefore[i]?.count ?? 0), 0)
  const time = commitsAfter.reduce((sum, after, i) => sum + after.seconds - (commitsBefore[i]?.seconds ?? 0), 0)
  into.push({
    servers: serverCpu / result.seconds,
    machine: ((machineAfter.busy - machineBefore.busy) / (machineAfter.total - machineBefore.total)) * cpus().length,
    commits: count / result.seconds,
    commitMs: count > 0 ? (time / count) * 1000 : Number.NaN,
  })
  return result
}

/** Appends at `RATE`/s for `seconds` to `url`, open loop; the send time (µs) of the last append. */
async function liveWrite(url: string, path: string, seconds: number, waitMs: number): Promise<{ last: number; seconds: number }> {
  const p = pool(url, 8)
  const first = nowUs()
  const pending: Array<Promise<unknown>> = []
  let last = first
  try {
    for (let i = 0; i < Math.round(seconds * RATE); i++) {
      const wait = (first + (i * 1e6) / RATE - nowUs()) / 1000
      if (wait > 0) await sleep(wait)
      last = nowUs()
      pending.push(call(p, 'POST', path, { headers: JSON_HEADERS, body: `{"merge":{"t":${last},"p":"${'x'.repeat(60)}"}}` }).catch(() => {}))
    }
    await Promise.race([Promise.all(pending), sleep(waitMs)])
  } finally {
    await p.destroy()
  }
  return { last, seconds: (nowUs() - first) / 1e6 }
}

/** Measures one configuration on its (running) servers. */
async function measure(ctx: Context, name: string, servers: Array<{ url: string; child: Child }>): Promise<Figures> {
  const rounds = ctx.quick ? 2 : 3
  const seconds = ctx.quick ? 2 : 3
  const liveSeconds = ctx.quick ? 3 : 5
  const waitMs = ctx.quick ? 1000 : 3000
  const figures: Figures = { name, single: [], batch: [], p99: [], p50: [], missing: 0, use: {} }
  const first = servers[0] as { url: string }
  const setup = pool(first.url, 1)
  for (const stream of ['bench/single', 'bench/batch', 'bench/live']) await call(setup, 'PUT', `/v1/stream/${stream}`, { headers: STATE_HEADERS })
  await setup.close()
  const singles = mutations(256)
  const batches = Array.from({ length: 16 }, (_, i) => batchBody(BATCH, i * BATCH))
  const load = async (kind: 'single' | 'batch', secs: number): Promise<number> => {
    const per = CONNECTIONS / servers.length
    const pools = servers.map((server, i) => pool(server.url, Math.round(per * (i + 1)) - Math.round(per * i)))
    try {
      const result = await measured(servers, (figures.use[kind] ??= []), async () => {
        const started = performance.now()
        const results = await Promise.all(
          pools.map((p, i) => postLoad(p, `/v1/stream/bench/${kind}`, kind === 'single' ? singles : batches, Math.round(per * (i + 1)) - Math.round(per * i), secs)),
        )
        const errors = results.reduce((sum, r) => sum + r.errors, 0)
        if (errors > 0) ctx.log(`replicas: ${name} ${kind}: ${errors} errors (${results.find((r) => r.firstError)?.firstError})`)
        return { seconds: (performance.now() - started) / 1000, rate: results.reduce((sum, r) => sum + r.rate, 0) }
      })
      return result.rate * (kind === 'batch' ? BATCH : 1)
    } finally {
      await Promise.all(pools.map((p) => p.close()))
    }
  }
  await load('single', 0.5)
  await load('batch', 0.5)
  for (let round = 0; round < rounds; round++) {
    for (const kind of ['single', 'batch'] as const) {
      const rate = await load(kind, seconds)
      figures[kind].push(rate)
      ctx.log(`replicas: ${name}, round ${round + 1}/${rounds}, ${kind}: ${fmt(rate)} entries/s`)
    }
  }
  // Live: readers spread evenly over the replicas; the writer on the first.
  const readers = (await start<unknown>(`readers-${name}`, 'readers/sse-readers.ts')).child
  try {
    for (const [i, server] of servers.entries()) {
      const count = Math.round((READERS * (i + 1)) / servers.length) - Math.round((READERS * i) / servers.length)
      await readers.call('open', { url: `${server.url}/v1/live/bench/live`, count })
    }
    await readers.call('arm', { since: Number.MAX_SAFE_INTEGER })
    await liveWrite(first.url, '/v1/stream/bench/live', 0.5, waitMs)
    for (let round = 0; round < rounds; round++) {
      await readers.call('arm', { since: nowUs() })
      const written = await measured(servers, (figures.use.live ??= []), () => liveWrite(first.url, '/v1/stream/bench/live', liveSeconds, waitMs))
      const result = await readers.call<Collected>('collect', { expected: Math.round(liveSeconds * RATE), waitMs, lastSent: written.last })
      figures.p50.push(result.p50)
      figures.p99.push(result.p99)
      figures.missing += result.missing
      ctx.log(`replicas: ${name}, live round ${round + 1}/${rounds}: p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ${result.missing} missing`)
    }
  } finally {
    await readers.stop()
  }
  return figures
}

export async function replicasWorkload(ctx: Context): Promise<Row[]> {
  const all: Figures[] = []
  const sqlite = await start<{ url: string }>('statestream-sqlite', 'servers/statestream.ts', { file: join(ctx.tmp, 'replicas.db') }, { nodeArgs: ctx.serverNodeArgs })
  try {
    all.push(await measure(ctx, 'SQLite, 1 node', [{ url: sqlite.ready.url, child: sqlite.child }]))
  } finally {
    await sqlite.child.stop()
  }
  const postgres = await startPostgres()
  try {
    for (const count of [1, 2, 3]) {
      // A database of its own for each configuration, so each starts from the same empty store.
      const url = await postgres.createDatabase()
      const servers: Array<{ url: string; child: Child }> = []
      try {
        for (let i = 0; i < count; i++) {
          const server = await start<{ url: string }>(`statestream-pg-${i}`, 'servers/statestream.ts', { postgres: { url, schema: 'public' } }, { nodeArgs: ctx.serverNodeArgs })
          servers.push({ url: server.ready.url, child: server.child })
        }
        all.push(await measure(ctx, `PostgreSQL, ${count} replica${count > 1 ? 's' : ''}`, servers))
      } finally {
        await Promise.all(servers.map((server) => server.child.stop()))
      }
      if (count === 1) (all.at(-1) as Figures).ceiling = await ceiling(ctx, await postgres.createDatabase())
    }
  } finally {
    await postgres.stop()
  }
  return rows(ctx, all)
}

/** Raw PostgreSQL's rows/s, alone on the machine, in as many rounds as the servers had. */
async function ceiling(ctx: Context, url: string): Promise<NonNullable<Figures['ceiling']>> {
  const rounds = ctx.quick ? 2 : 3
  const seconds = ctx.quick ? 2 : 3
  const result: NonNullable<Figures['ceiling']> = { batch: [], single: [], batchBy: [] }
  await pgCeiling(url, BATCH, 1, 0.5)
  for (let round = 0; round < rounds; round++) {
    const one = await pgCeiling(url, BATCH, 1, seconds)
    const four = await pgCeiling(url, BATCH, 4, seconds)
    const single = await pgCeiling(url, 1, CONNECTIONS, seconds)
    result.batchBy.push({ one, four })
    result.batch.push(Math.max(one, four))
    result.single.push(single)
    ctx.log(`replicas: raw PostgreSQL, round ${round + 1}/${rounds}: batches of ${BATCH} ${fmt(one)} rows/s (1 connection), ${fmt(four)} (4); single rows ${fmt(single)} rows/s (${CONNECTIONS} connections)`)
  }
  return result
}

function rows(ctx: Context, all: readonly Figures[]): Row[] {
  const base = all[0] as Figures
  const use = (figures: Figures, kind: string): string => {
    const list = figures.use[kind] ?? []
    const m = (pick: (u: (typeof list)[number]) => number): number => median(list.map(pick))
    return (
      `servers ${fmt(m((u) => u.servers), 2)} cores, machine ${fmt(m((u) => u.machine), 2)} of ${cpus().length} cores, ` +
      `${fmt(m((u) => u.commits))} group commits/s of ${fmt(m((u) => u.commitMs), 2)} ms mean, ` +
      `${fmt(m((u) => u.commits * u.commitMs), 0)} ms in commits per second summed over the servers (past 1000, commits waited for one another)`
    )
  }
  const out: Row[] = []
  for (const [kind, metric, unit] of [
    ['single', `single-message POSTs of 100 B, ${CONNECTIONS} connections split over the replicas, one stream`, 'appends/s'],
    ['batch', `batched POSTs of ${BATCH} × 100 B, ${CONNECTIONS} connections split over the replicas, one stream`, 'entries/s'],
  ] as const) {
    for (const figures of all) {
      const value = median(figures[kind])
      const baseline = median(base[kind])
      out.push({
        workload: '6 Replicas',
        metric: `${metric}: ${figures.name}${ctx.quick ? ' (QUICK)' : ''}`,
        unit,
        statestream: value,
        peer: figures === base ? '' : 'SQLite, 1 node (same run)',
        peerValue: figures === base ? null : baseline,
        ratio: figures === base ? null : value / baseline,
        ratioMeaning: figures === base ? '' : 'this / SQLite',
        target: '—',
        met: null,
        rounds: { statestream: figures[kind] },
        note: `${figures.name}: ${use(figures, kind)}.`,
      })
    }
  }
  // PostgreSQL against its own ceiling: raw inserts of the same rows on the same server.
  for (const figures of all) {
    const raw = figures.ceiling
    if (raw === undefined) continue
    for (const [kind, metric, unit, peer] of [
      ['single', `single-message POSTs of 100 B, ${CONNECTIONS} connections, against raw PostgreSQL: ${figures.name}`, 'appends/s', `raw pg inserts, same rows, 1 per transaction, ${CONNECTIONS} connections`],
      ['batch', `batched POSTs of ${BATCH} × 100 B, ${CONNECTIONS} connections, against raw PostgreSQL: ${figures.name}`, 'entries/s', `raw pg inserts, same rows, ${BATCH} per transaction (unnest), best of 1 and 4 connections`],
    ] as const) {
      const value = median(figures[kind])
      const rawValue = median(raw[kind])
      const by = kind === 'batch' ? ` Raw batches: 1 connection ${fmt(median(raw.batchBy.map((b) => b.one)))} rows/s, 4 connections ${fmt(median(raw.batchBy.map((b) => b.four)))}.` : ''
      out.push({
        workload: '6 Replicas',
        metric: `${metric}${ctx.quick ? ' (QUICK)' : ''}`,
        unit,
        statestream: value,
        peer,
        peerValue: rawValue,
        ratio: value / rawValue,
        ratioMeaning: 'fraction of the ceiling',
        target: '— (reported)',
        met: null,
        rounds: { statestream: figures[kind], peer: raw[kind] },
        note: `Raw inserts alone on the machine, on the same PostgreSQL server, after the replicas' rounds; no statestream process running.${by}`,
      })
    }
  }
  for (const figures of all) {
    const value = median(figures.p99)
    const baseline = median(base.p99)
    out.push({
      workload: '6 Replicas',
      metric: `p99 append→receipt, ${READERS} SSE readers spread over the replicas, writer at ${RATE}/s on the first: ${figures.name}${ctx.quick ? ' (QUICK)' : ''}`,
      unit: 'ms',
      statestream: value,
      peer: figures === base ? '' : 'SQLite, 1 node (same run)',
      peerValue: figures === base ? null : baseline,
      ratio: figures === base ? null : value / baseline,
      ratioMeaning: figures === base ? '' : 'this / SQLite',
      target: '—',
      met: null,
      rounds: { statestream: figures.p99 },
      note: `${figures.name}: p50 ${fmt(median(figures.p50), 2)} ms; ${figures.missing} events missing; ${use(figures, 'live')}.`,
    })
  }
  return out
}
