/**
 * Workload 2, Live latency: one writer appending 50 times a second; 1, 100 and 1000 SSE readers
 * in a process of their own (`readers/sse-readers.ts`); p50/p99 from the writer's send to the
 * reader's receipt. The same readers and writer run against statestream (`/v1/live/<name>`), the
 * Durable Streams reference server (`?offset=now&live=sse`) and a bare Node `http` SSE server (the
 * floor: what Node, loopback and the reader process cost with no server work at all).
 */
import { join } from 'node:path'
import type { Child } from '../lib/proc.ts'
import { cpuSeconds, start } from '../lib/proc.ts'
import { call, pool } from '../lib/load.ts'
import { runScript } from '../lib/spawn-script.ts'
import { fmt, median, nowUs, percentiles, sleep } from '../lib/stats.ts'
import type { Context, Row } from '../lib/types.ts'

/** Appends per second of the one writer. */
const RATE = 50
const STREAM = 'bench/live'
/** How long stragglers are waited for after the last append (then they count as that late). */
const WAIT_MS = 5000
/**
 * Reader processes per system, the readers split evenly between them. One lean process (raw
 * sockets, bytes scanned, nothing decoded) keeps up with 1000 readers here with CPU to spare (its
 * CPU is in the notes); `BENCH_READER_PROCESSES` spreads them wider.
 */
const READER_PROCESSES = Number(process.env.BENCH_READER_PROCESSES ?? 1)

interface System {
  name: 'statestream' | 'durable' | 'bare'
  server: Child
  url: string
  readers: Child[]
  readUrl: string
  writePath: string
  /** Per reader count: p50 and p99 of every round. */
  figures: Map<number, { p50: number[]; p99: number[]; samples: number[]; short: number; serverCores: number[]; readerCores: number[] }>
  /** Why this system could not be measured (e.g. its live route is missing). */
  unavailable?: string
}

interface Collected {
  raw?: number[]
  samples: number
  missing: number
  p50: number
  p99: number
  max: number
  minPerReader: number
  maxPerReader: number
  /** Present when events were missing: see `whereMissing` in `readers/sse-readers.ts`. */
  gaps?: { byNone: number; shortReaders: number; late: number; skipped: number; order: number }
}

/** A 100-byte-ish message carrying its send time. */
function message(t: number): string {
  return `{"merge":{"t":${t},"p":"${'x'.repeat(60)}"}}`
}

/**
 * Writes at `RATE`/s for `seconds` to `system`, open loop: each append leaves on its schedule
 * whether or not the previous one has been answered (a slow server must not slow the clock that
 * measures it). Returns the send time (µs) of the last append, and how many appends failed.
 */
async function write(system: System, seconds: number, waitMs = WAIT_MS): Promise<{ last: number; failed: number; firstError?: string }> {
  const p = pool(system.url, 8)
  const first = nowUs()
  const count = Math.round(seconds * RATE)
  const pending: Array<Promise<unknown>> = []
  let last = first
  let failed = 0
  let firstError: string | undefined
  try {
    for (let i = 0; i < count; i++) {
      const due = first + (i * 1e6) / RATE
      const wait = (due - nowUs()) / 1000
      if (wait > 0) await sleep(wait)
      last = nowUs()
      pending.push(
        call(p, 'POST', system.writePath, { headers: { 'content-type': 'application/json' }, body: message(last) }).catch((error: unknown) => {
          // An append that fails or is cut at the deadline shows up as events its readers miss.
          failed++
          firstError ??= String((error as Error).message ?? error).split('\n')[0]
        }),
      )
    }
    await Promise.race([Promise.all(pending), sleep(waitMs)])
  } finally {
    await p.destroy()
  }
  return { last, failed, ...(firstError !== undefined && { firstError }) }
}

/** The figures of several reader processes as one: their raw samples merged (one process: as it is). */
function merge(parts: Collected[]): Collected {
  if (parts.length === 1) return parts[0] as Collected
  const all = parts.flatMap((part) => part.raw ?? [])
  const [p50, p99, max] = percentiles(all, [50, 99, 100])
  return {
    samples: parts.reduce((sum, part) => sum + part.samples, 0),
    missing: parts.reduce((sum, part) => sum + part.missing, 0),
    p50: p50 ?? Number.NaN,
    p99: p99 ?? Number.NaN,
    max: max ?? Number.NaN,
    minPerReader: Math.min(...parts.map((part) => part.minPerReader)),
    maxPerReader: Math.max(...parts.map((part) => part.maxPerReader)),
    ...(parts.some((part) => part.gaps !== undefined) && {
      gaps: {
        byNone: Math.max(...parts.map((part) => part.gaps?.byNone ?? 0)),
        shortReaders: parts.reduce((sum, part) => sum + (part.gaps?.shortReaders ?? 0), 0),
        late: parts.reduce((sum, part) => sum + (part.gaps?.late ?? 0), 0),
        skipped: parts.reduce((sum, part) => sum + (part.gaps?.skipped ?? 0), 0),
        order: parts.reduce((sum, part) => sum + (part.gaps?.order ?? 0), 0),
      },
    }),
  }
}

export async function liveWorkload(ctx: Context): Promise<Row[]> {
  const counts = [1, 100, 1000]
  const rounds = ctx.quick ? 1 : 3
  const seconds = ctx.quick ? 1 : 6
  const waitMs = ctx.quick ? 1000 : WAIT_MS
  const specs = [
    { name: 'statestream', script: 'servers/statestream.ts', args: { file: join(ctx.tmp, 'live.db') }, nodeArgs: ctx.serverNodeArgs },
    { name: 'durable', script: 'servers/durable.ts', args: { dataDir: join(ctx.tmp, 'live-ds') }, nodeArgs: [] },
    { name: 'bare', script: 'servers/bare-sse.ts', args: {}, nodeArgs: [] },
  ] as const
  const systems: System[] = []
  const wanted = process.env.BENCH_LIVE_SYSTEMS?.split(',')
  // One system at a time, alone on the machine with its readers: a server still working through
  // a backlog must not take the CPU from the next one's measurement.
  for (const spec of specs) {
    if (wanted !== undefined && !wanted.includes(spec.name)) continue
    const server = await start<{ url: string }>(spec.name, spec.script, spec.args, { nodeArgs: [...spec.nodeArgs] })
    const url = server.ready.url
    const system: System = {
      name: spec.name,
      server: server.child,
      url,
      readUrl:
        spec.name === 'statestream'
          ? `${url}/v1/live/${STREAM}`
          : spec.name === 'durable'
            ? `${url}/v1/stream/${STREAM}?offset=now&live=sse`
            : `${url}/sse`,
      writePath: spec.name === 'bare' ? '/append' : `/v1/stream/${STREAM}`,
      readers: [],
      figures: new Map(),
    }
    systems.push(system)
    try {
      if (system.name !== 'bare') {
        const p = pool(url, 1)
        const headers: Record<string, string> = { 'content-type': 'application/json' }
        if (system.name === 'statestream') headers['stream-kind'] = 'state'
        await call(p, 'PUT', `/v1/stream/${STREAM}`, { headers })
        await call(p, 'POST', system.writePath, { headers: { 'content-type': 'application/json' }, body: message(0) })
        await p.close()
      }
      for (let k = 0; k < READER_PROCESSES; k++) system.readers.push((await start<unknown>(`readers-${system.name}-${k}`, 'readers/sse-readers.ts', {}, { nodeArgs: ctx.serverNodeArgs })).child)
      let open = 0
      for (const count of counts) {
        system.figures.set(count, { p50: [], p99: [], samples: [], short: 0, serverCores: [], readerCores: [] })
        if (system.unavailable !== undefined) continue
        try {
          // Spread over the reader processes: process k holds the readers i with i % processes === k.
          await Promise.all(
            system.readers.map((readers, k) => {
              const share = (n: number): number => Math.floor((n + system.readers.length - 1 - k) / system.readers.length)
              return readers.call('open', { url: system.readUrl, count: share(count) - share(open) })
            }),
          )
        } catch (error) {
          system.unavailable = String((error as Error).message ?? error).split('\n')[0] ?? 'failed'
          ctx.log(`live: ${system.name} cannot be measured: ${system.unavailable}`)
          continue
        }
        open = count
        await Promise.all(system.readers.map((readers) => readers.call('arm', { since: Number.MAX_SAFE_INTEGER })))
        await write(system, ctx.quick ? 0.3 : 1, waitMs)
        for (let round = 0; round < rounds; round++) {
          const armed = nowUs()
          await Promise.all(system.readers.map((readers) => readers.call('arm', { since: armed })))
          const serverBefore = cpuSeconds(system.server.pid)
          const readersBefore = system.readers.map((readers) => cpuSeconds(readers.pid))
          const wallBefore = performance.now()
          const sent = await write(system, seconds, waitMs)
          const lastSent = sent.last
          const wall = (performance.now() - wallBefore) / 1000
          const serverCores = (cpuSeconds(system.server.pid) - serverBefore) / wall
          // The busiest reader process: the one that would be the bottleneck.
          const readerCores = Math.max(...system.readers.map((readers, k) => (cpuSeconds(readers.pid) - (readersBefore[k] as number)) / wall))
          const parts = await Promise.all(
            system.readers.map((readers) => readers.call<Collected>('collect', { expected: Math.round(seconds * RATE), waitMs, lastSent, raw: system.readers.length > 1 })),
          )
          const result = merge(parts)
          const figures = system.figures.get(count)
          figures?.p50.push(result.p50)
          figures?.p99.push(result.p99)
          figures?.samples.push(result.samples)
          figures?.serverCores.push(serverCores)
          figures?.readerCores.push(readerCores)
          // A reader that missed events would flatter the figures: count the rounds where one did.
          if (figures && result.missing > 0) figures.short++
          ctx.log(
            `live: ${system.name}, ${count} readers, round ${round + 1}/${rounds}: p50 ${fmt(result.p50, 2)} ms, p99 ${fmt(result.p99, 2)} ms, ` +
              `max ${fmt(result.max, 1)} ms, ${result.samples} events, ${result.missing} missing; ` +
              `server ${fmt(serverCores, 2)} cores, busiest reader process ${fmt(readerCores, 2)} cores` +
              (sent.failed > 0 ? `; ${sent.failed} appends failed (first: ${sent.firstError})` : '') +
              (result.gaps !== undefined
                ? `; missing: ${result.gaps.byNone} events received by no reader, ${result.gaps.shortReaders} readers short ` +
                  `(${result.gaps.late} events after their last one, ${result.gaps.skipped} skipped between, ${result.gaps.order} out of order)`
                : ''),
          )
        }
      }
    } finally {
      await Promise.all([...system.readers.map((readers) => readers.stop()), system.server.stop()])
    }
  }

  const rows: Row[] = []
  rows.push(...(await crossCheck(ctx)))
  /** What each system's server and its busiest reader process used while `count` readers were measured (medians of the rounds). */
  const coresNote = (count: number): string => {
    const parts = systems.map((system) => {
      const f = system.figures.get(count)
      return `${system.name} server ${fmt(median(f?.serverCores ?? []), 2)}, busiest reader process ${fmt(median(f?.readerCores ?? []), 2)}`
    })
    return `CPU while measured (cores): ${parts.join('; ')}.`
  }
  const unavailable = systems
    .filter((system) => system.unavailable !== undefined)
    .map((system) => `${system.name} not measured: ${system.unavailable}. `)
    .join('')
  const pick = (name: System['name'], count: number) => systems.find((s) => s.name === name)?.figures.get(count)
  for (const count of counts) {
    const s = pick('statestream', count)
    const d = pick('durable', count)
    const b = pick('bare', count)
    for (const q of ['p50', 'p99'] as const) {
      const sv = median(s?.[q] ?? [])
      const dv = median(d?.[q] ?? [])
      const bv = median(b?.[q] ?? [])
      const isTarget = count === 1000 && q === 'p99'
      const shortNote =
        (s?.short ?? 0) + (d?.short ?? 0) + (b?.short ?? 0) > 0
          ? ` Rounds where some reader still missed events ${waitMs / 1000} s after the last append (they count as that late, a lower bound): statestream ${s?.short ?? 0}, peer ${d?.short ?? 0}, bare ${b?.short ?? 0}.`
          : ''
      rows.push({
        workload: '2 Live',
        metric: `${q} append→receipt, ${count} SSE reader${count > 1 ? 's' : ''}, writer at ${RATE}/s`,
        unit: 'ms',
        statestream: sv,
        peer: 'Durable Streams ref. server (SSE tail)',
        peerValue: dv,
        ratio: dv / sv,
        ratioMeaning: 'peer / statestream',
        target: isTarget ? '≥ 5× lower' : '—',
        met: isTarget && Number.isFinite(sv) ? dv / sv >= 5 : null,
        rounds: { statestream: s?.[q] ?? [], peer: d?.[q] ?? [] },
        note: `${ctx.quick ? `QUICK: ${rounds} round of ${seconds} s. ` : ''}${unavailable}bare Node http SSE floor ${fmt(bv, 2)} ms (statestream / floor ${fmt(sv / bv, 1)}×).${shortNote}${q === 'p99' ? ` ${coresNote(count)}` : ''}`,
      })
    }
  }
  const s1000 = median(pick('statestream', 1000)?.p99 ?? [])
  const b1000 = median(pick('bare', 1000)?.p99 ?? [])
  rows.push({
    workload: '2 Live',
    metric: 'p99 append→receipt, 1000 SSE readers, against the floor',
    unit: 'ms',
    statestream: s1000,
    peer: 'bare Node http SSE server (floor: no storage, appends of one event-loop turn written together)',
    peerValue: b1000,
    ratio: s1000 / b1000,
    ratioMeaning: 'statestream / floor',
    target: '≤ 1.5× the floor',
    met: Number.isFinite(s1000) && Number.isFinite(b1000) ? s1000 / b1000 <= 1.5 : null,
    note: `Readers: ${READER_PROCESSES} process${READER_PROCESSES > 1 ? 'es' : ''} per system (raw sockets, bytes scanned for the send time). ${coresNote(1000)} The earlier absolute target (≤ 20 ms): ${Number.isFinite(s1000) && s1000 <= 20 ? 'met' : 'not met'}.`,
    rounds: { statestream: pick('statestream', 1000)?.p99 ?? [], peer: pick('bare', 1000)?.p99 ?? [] },
  })
  return rows
}

interface LiveLatencyResult {
  results: Array<{ readers: number; p50: number; p99: number; lost: number }>
}

/**
 * `bench/live-latency.ts`, the live route's own benchmark (statestream only: its writer and
 * readers share one process, its server holds the database in memory), run as it is: a cross-check
 * of the figures above, which come from one harness for all three systems. Full runs only.
 */
async function crossCheck(ctx: Context): Promise<Row[]> {
  if (ctx.quick) return []
  try {
    const out = await runScript<LiveLatencyResult>('live-latency.ts', [], 'live-latency.json', 600_000, ctx.log)
    return out.results.map((level) => ({
      workload: '2 Live',
      metric: `cross-check by bench/live-latency.ts: p99, ${level.readers} reader${level.readers > 1 ? 's' : ''}`,
      unit: 'ms',
      statestream: level.p99,
      peer: '',
      peerValue: null,
      ratio: null,
      ratioMeaning: '',
      target: level.readers === 1000 ? '≤ 20 ms (p99)' : '—',
      met: level.readers === 1000 ? level.p99 <= 20 : null,
      note: `p50 ${fmt(level.p50, 2)} ms, p99 ${fmt(level.p99, 2)} ms, ${level.lost} entries lost; its own method (writer and readers in one process, in-memory database).`,
    }))
  } catch (error) {
    ctx.log(`live: bench/live-latency.ts failed: ${(error as Error).message}`)
    return []
  }
}
