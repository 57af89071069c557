/**
 * Stalled readers: what live readers that never read cost everyone else.
 *
 *   npx tsx --conditions=source bench/stalled-readers.ts [--quick]
 *
 * A statestream server (SQLite file, default options) in its own process; ordinary readers
 * (`readers/sse-readers.ts`) that read everything, in another; readers that never read
 * (`readers/stalled-sockets.ts`) in a third; the writer here, appending `RATE` times a second,
 * open loop, each message stamped with its send time on the machine's monotonic clock.
 *
 * 1. Stalled vs none, alternating rounds in one run: each round the writer runs for `SECONDS`;
 *    in a "stalled" round `STALLED` readers connect at once as it starts and never read a byte
 *    (the server cuts them with `SLOW_READER` once they hold their budget). Per round: the
 *    ordinary readers' append→event p50/p99/max, the server's RSS (peak, from /proc) and the
 *    kernel's send queues of its sockets (peak), and the cuts. The figure is the ratio of the
 *    stalled rounds' p99 to the others' (median over rounds; target ≤ 2×).
 * 2. A burst of `BURST` connecting readers (all at once, each getting the open window) during
 *    steady appends, alternating with rounds without one: how much longer an append takes
 *    (send → answer) while the burst connects, against the group commit time the server's metrics
 *    report (target: the burst adds at most one group commit). Then the same rounds against the
 *    floor, a bare Node SSE server (`servers/bare-sse.ts`) that stores nothing and writes each
 *    connecting reader a window of the same size in one go: what the burst costs Node and this
 *    machine with no server work at all.
 *
 * Knobs (environment): STALLED_BENCH_READERS (100), STALLED_BENCH_OTHERS (10),
 * STALLED_BENCH_PAIRS (3; 1 with --quick), STALLED_BENCH_SECONDS (12; 6), STALLED_BENCH_BYTES
 * (payload per append, 4096), STALLED_BENCH_BURST (100), STALLED_BENCH_PROFILE (a directory: the
 * server runs with `--cpu-prof` into it; none by default), STALLED_BENCH_PARTS (which parts run:
 * `stalled,burst`, the default, or either alone; the floor comes with `burst`).
 * Writes `bench/results/stalled-readers.json` (`stalled-readers.last-run.json` for --quick).
 */
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Pool } from 'undici'
import { sendQueueOfPort } from '@statestream/server'
import { call, pool } from './lib/load.ts'
import type { Child } from './lib/proc.ts'
import { start } from './lib/proc.ts'
import { median, nowUs, percentiles, sleep } from './lib/stats.ts'

const quick = process.argv.includes('--quick')
const env = (name: string, fallback: number): number => Number(process.env[name] ?? fallback)
const STALLED = env('STALLED_BENCH_READERS', 100)
const OTHERS = env('STALLED_BENCH_OTHERS', 10)
const PAIRS = env('STALLED_BENCH_PAIRS', quick ? 1 : 3)
const SECONDS = env('STALLED_BENCH_SECONDS', quick ? 6 : 12)
const BYTES = env('STALLED_BENCH_BYTES', 4096)
const BURST = env('STALLED_BENCH_BURST', 100)
const PROFILE_DIR = process.env.STALLED_BENCH_PROFILE
const PARTS = new Set((process.env.STALLED_BENCH_PARTS ?? 'stalled,burst').split(','))
const RATE = 50
const STREAM = 'bench/stalled'
/** How long stragglers are waited for after a round's last append (then they count as that late). */
const WAIT_MS = 5_000

interface Collected {
  samples: number
  missing: number
  p50: number
  p99: number
  max: number
}

interface Round {
  kind: 'stalled' | 'none'
  p50: number
  p99: number
  max: number
  samples: number
  missing: number
  /** Server RSS, MiB: at the round's start and its peak. */
  rssStartMiB: number
  rssPeakMiB: number
  /** Peak bytes in the kernel's send queues of the server's sockets, MiB. */
  sendQueuesPeakMiB: number
  /** Readers cut with SLOW_READER during the round. */
  cuts: number
  /** The longest the server's event loop was held up during the round, ms. */
  serverLagMs: number
}

interface Append {
  sent: number
  ms: number
}

/** The server's resident set, MiB (/proc; NaN without it). */
function rssMiB(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
    return Number(kb) / 1024
  } catch {
    return Number.NaN
  }
}

/** Samples RSS (every 100 ms) and send queues (as often as they can be read) until stopped; returns the peaks. */
function sampler(pid: number, port: number): { stop(): Promise<{ rss: number; queues: number }> } {
  let rss = rssMiB(pid)
  let queues = 0
  let running = true
  const timer = setInterval(() => (rss = Math.max(rss, rssMiB(pid))), 100)
  const reading = (async () => {
    while (running) {
      queues = Math.max(queues, (await sendQueueOfPort(port)) ?? 0)
      await sleep(100)
    }
  })()
  return {
    async stop() {
      running = false
      clearInterval(timer)
      await reading
      return { rss, queues: queues / (1024 * 1024) }
    },
  }
}

/** A metric's value from the server's `/metrics` text (the sum of its series). */
async function metric(p: Pool, name: string): Promise<number> {
  const { text } = await call(p, 'GET', '/metrics')
  let total = 0
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name} `) || line.startsWith(`${name}{`)) total += Number(line.slice(line.lastIndexOf(' ') + 1))
  }
  return total
}

/**
 * Appends at `RATE`/s for `seconds`, open loop (each append leaves on schedule, answered or not).
 * Returns every append's send time (µs) and round trip (ms), and the last send time.
 */
async function write(p: Pool, seconds: number, payload: string, path = `/v1/stream/${STREAM}`): Promise<{ appends: Append[]; last: number }> {
  const first = nowUs()
  const count = Math.round(seconds * RATE)
  const appends: Append[] = []
  const pending: Array<Promise<unknown>> = []
  let last = first
  for (let i = 0; i < count; i++) {
    const wait = (first + (i * 1e6) / RATE - nowUs()) / 1000
    if (wait > 0) await sleep(wait)
    const sent = nowUs()
    last = sent
    pending.push(
      call(p, 'POST', path, { headers: { 'content-type': 'application/json' }, body: `{"merge":{"t":${sent},"p":"${payload}"}}` }).then(
        () => appends.push({ sent, ms: (nowUs() - sent) / 1000 }),
        () => appends.push({ sent, ms: Number.POSITIVE_INFINITY }),
      ),
    )
  }
  await Promise.all(pending)
  return { appends, last }
}

async function stalledRound(kind: Round['kind'], p: Pool, url: string, server: Child, port: number, readers: Child, stalled: Child, payload: string): Promise<Round> {
  const pid = server.pid
  const cutsBefore = await metric(p, 'statestream_slow_reader_cuts_total')
  await server.call('lag')
  const rssStart = rssMiB(pid)
  const peaks = sampler(pid, port)
  await readers.call('arm', { since: nowUs() })
  const writing = write(p, SECONDS, payload)
  // All at once, as the writer starts.
  const opening = kind === 'stalled' ? stalled.call('open', { url: `${url}/v1/live/${STREAM}`, count: STALLED }) : Promise.resolve()
  const [{ last }] = await Promise.all([writing, opening])
  const got = await readers.call<Collected>('collect', { expected: Math.round(SECONDS * RATE), waitMs: WAIT_MS, lastSent: last })
  const { rss, queues } = await peaks.stop()
  const serverLagMs = await server.call<number>('lag')
  const cuts = (await metric(p, 'statestream_slow_reader_cuts_total')) - cutsBefore
  if (kind === 'stalled') await stalled.call('close')
  // Let the server see the departures before the next round.
  await sleep(1_000)
  return { kind, p50: got.p50, p99: got.p99, max: got.max, samples: got.samples, missing: got.missing, rssStartMiB: rssStart, rssPeakMiB: rss, sendQueuesPeakMiB: queues, cuts, serverLagMs }
}

interface BurstRound {
  kind: 'burst' | 'quiet'
  /** Round trips (ms) of the appends sent while the burst connected (the same span in a quiet round). */
  p50: number
  p99: number
  max: number
  appends: number
  /** How long the burst took to connect (every reader answered), ms. */
  connectMs: number
  /** Bytes of the open window each connecting reader got. */
  windowBytes: number
  /** The longest the server's event loop was held up meanwhile, ms (what every append waited at most for it). */
  serverLagMs: number
  /**
   * CPU time of the server's main thread over the span, ms (`/proc`): what the burst costs the
   * server itself, which a busy machine disturbs far less than the round trips.
   */
  serverCpuMs: number
  /** Every round trip counted (ms), for percentiles over all rounds of a kind. */
  roundTrips: number[]
}

/** CPU time (ms) the main thread of process `pid` has run so far (`/proc/<pid>/task/<pid>/schedstat`; NaN without it). */
function mainThreadCpuMs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, 'latin1').split(' ')[0]) / 1e6
  } catch {
    return Number.NaN
  }
}

/** Where a burst round reads and writes: statestream's live route and stream, or the floor's. */
interface BurstTarget {
  readUrl: string
  writePath: string
  /** Bytes of the window each connecting reader gets now. */
  windowBytes: () => Promise<number>
}

async function burstRound(kind: BurstRound['kind'], p: Pool, target: BurstTarget, server: Child, burst: Child, payload: string): Promise<BurstRound> {
  const windowBytes = await target.windowBytes()
  const seconds = 4
  const writing = write(p, seconds, payload, target.writePath)
  await sleep(1_000)
  await server.call('lag')
  const from = nowUs()
  const cpuFrom = mainThreadCpuMs(server.pid)
  if (kind === 'burst') await burst.call('open', { url: target.readUrl, count: BURST, parallel: BURST })
  else await sleep(200)
  const connectMs = (nowUs() - from) / 1000
  // The span the burst took, and one commit's worth after it (appends sent just before answer late).
  const to = nowUs() + 100_000
  await sleep(100)
  const serverCpuMs = mainThreadCpuMs(server.pid) - cpuFrom
  const serverLagMs = await server.call<number>('lag')
  const { appends } = await writing
  if (kind === 'burst') await burst.call('close')
  await sleep(500)
  const during = appends.filter((a) => a.sent >= from - 100_000 && a.sent <= to).map((a) => a.ms)
  const [p50, p99, max] = percentiles(during, [50, 99, 100])
  return {
    kind,
    p50: p50 ?? Number.NaN,
    p99: p99 ?? Number.NaN,
    max: max ?? Number.NaN,
    appends: during.length,
    connectMs,
    windowBytes,
    serverLagMs,
    serverCpuMs,
    roundTrips: during.map((ms) => round2(ms)),
  }
}

/** `PAIRS` pairs of burst and quiet rounds against `target`, each kind first in turn, printed as they go. */
async function burstRounds(p: Pool, target: BurstTarget, server: Child, burst: Child, payload: string): Promise<BurstRound[]> {
  const bursts: BurstRound[] = []
  for (let pair = 0; pair < PAIRS; pair++) {
    const order: Array<BurstRound['kind']> = pair % 2 === 0 ? ['quiet', 'burst'] : ['burst', 'quiet']
    for (const kind of order) {
      const b = await burstRound(kind, p, target, server, burst, payload)
      bursts.push(b)
      process.stdout.write(
        `  ${kind.padEnd(7)} appends p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, max ${b.max.toFixed(1)} ms (${b.appends}); ` +
          `server event loop held up ${b.serverLagMs.toFixed(1)} ms at most, its main thread ran ${b.serverCpuMs.toFixed(1)} ms; ` +
          `connect ${b.connectMs.toFixed(0)} ms, window ${b.windowBytes} B\n`,
      )
    }
  }
  return bursts
}

/**
 * Of the rounds of `kind`: the median round's max round trip and longest hold of the event loop;
 * the p90 of all their round trips together (one slow moment of a busy machine moves it less than
 * it moves a max); the median round's CPU time of the server's main thread.
 */
function burstFigures(bursts: readonly BurstRound[], kind: BurstRound['kind']): { max: number; lag: number; p90: number; cpu: number } {
  const of = bursts.filter((b) => b.kind === kind)
  const [p90] = percentiles(of.flatMap((b) => b.roundTrips), [90])
  return { max: median(of.map((b) => b.max)), lag: median(of.map((b) => b.serverLagMs)), p90: p90 ?? Number.NaN, cpu: median(of.map((b) => b.serverCpuMs)) }
}

const round2 = (value: number): number => Math.round(value * 100) / 100

async function main(): Promise<void> {
  const here = dirname(fileURLToPath(import.meta.url))
  const dir = mkdtempSync(join(tmpdir(), 'statestream-stalled-bench-'))
  const { child: server, ready } = await start<{ url: string; pid: number }>('statestream', 'servers/statestream.ts', { file: join(dir, 'bench.db') }, {
    nodeArgs: PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`],
  })
  const { url } = ready
  const port = Number(new URL(url).port)
  const { child: readers } = await start('readers', 'readers/sse-readers.ts')
  const { child: stalled } = await start('stalled', 'readers/stalled-sockets.ts')
  const { child: burst } = await start('burst', 'readers/sse-readers.ts')
  const p = pool(url, 8)
  const payload = 'x'.repeat(BYTES)
  try {
    await call(p, 'PUT', `/v1/stream/${STREAM}`, { headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
    await readers.call('open', { url: `${url}/v1/live/${STREAM}`, count: OTHERS })
    // Warm-up: a short round of each, not counted.
    process.stdout.write('warm-up\n')
    await write(p, 2, payload)

    const rounds: Round[] = []
    for (let pair = 0; pair < (PARTS.has('stalled') ? PAIRS : 0); pair++) {
      // Alternating, and each kind first in turn, so drift falls on both.
      const order: Array<Round['kind']> = pair % 2 === 0 ? ['none', 'stalled'] : ['stalled', 'none']
      for (const kind of order) {
        const r = await stalledRound(kind, p, url, server, port, readers, stalled, payload)
        rounds.push(r)
        process.stdout.write(
          `  ${kind.padEnd(7)} p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, max ${r.max.toFixed(1)} ms, missing ${r.missing}; ` +
            `RSS ${r.rssStartMiB.toFixed(0)} → peak ${r.rssPeakMiB.toFixed(0)} MiB, send queues peak ${r.sendQueuesPeakMiB.toFixed(1)} MiB, cuts ${r.cuts}; ` +
            `server event loop held up ${r.serverLagMs.toFixed(1)} ms at most\n`,
        )
      }
    }
    const of = (kind: Round['kind']): Round[] => rounds.filter((r) => r.kind === kind)
    const p99Stalled = median(of('stalled').map((r) => r.p99))
    const p99None = median(of('none').map((r) => r.p99))

    const commitsBefore = { sum: await metric(p, 'statestream_group_commit_duration_seconds_sum'), count: await metric(p, 'statestream_group_commit_duration_seconds_count') }
    const statestream: BurstTarget = {
      readUrl: `${url}/v1/live/${STREAM}`,
      writePath: `/v1/stream/${STREAM}`,
      windowBytes: async () => Buffer.byteLength((await call(p, 'GET', `/v1/window/${STREAM}?at=now`)).text),
    }
    const bursts = PARTS.has('burst') ? await burstRounds(p, statestream, server, burst, payload) : []
    const commits = {
      sum: (await metric(p, 'statestream_group_commit_duration_seconds_sum')) - commitsBefore.sum,
      count: (await metric(p, 'statestream_group_commit_duration_seconds_count')) - commitsBefore.count,
    }
    const groupCommitMs = (commits.sum / Math.max(1, commits.count)) * 1000
    const maxOf = (kind: BurstRound['kind']): number => burstFigures(bursts, kind).max
    const p50Quiet = median(bursts.filter((b) => b.kind === 'quiet').map((b) => b.p50))
    const addedMs = maxOf('burst') - maxOf('quiet')
    const lagOf = (kind: BurstRound['kind']): number => burstFigures(bursts, kind).lag

    // The floor: the same rounds against a server that does nothing but write the same bytes.
    process.stdout.write('the floor (bare Node SSE server, windows of the same size)\n')
    const floorWindow = Math.round(median(bursts.map((b) => b.windowBytes)))
    const { child: bare, ready: bareReady } = await start<{ url: string }>('bare', 'servers/bare-sse.ts', { windowBytes: floorWindow })
    const bareP = pool(bareReady.url, 8)
    let floorBursts: BurstRound[] = []
    try {
      if (PARTS.has('burst')) floorBursts = await burstRounds(bareP, { readUrl: `${bareReady.url}/sse`, writePath: '/append', windowBytes: async () => floorWindow }, bare, burst, payload)
    } finally {
      await bareP.destroy().catch(() => {})
      await bare.stop()
    }
    const floor = { burst: burstFigures(floorBursts, 'burst'), quiet: burstFigures(floorBursts, 'quiet') }

    const summary = {
      stalled: {
        readers: STALLED,
        others: OTHERS,
        p99StalledMs: round2(p99Stalled),
        p99NoneMs: round2(p99None),
        ratio: round2(p99Stalled / p99None),
        target: 2,
        rssPeakStalledMiB: round2(median(of('stalled').map((r) => r.rssPeakMiB))),
        rssPeakNoneMiB: round2(median(of('none').map((r) => r.rssPeakMiB))),
        sendQueuesPeakStalledMiB: round2(median(of('stalled').map((r) => r.sendQueuesPeakMiB))),
        cutsPerStalledRound: of('stalled').map((r) => r.cuts),
        serverLagStalledMs: round2(median(of('stalled').map((r) => r.serverLagMs))),
        serverLagNoneMs: round2(median(of('none').map((r) => r.serverLagMs))),
      },
      burst: {
        readers: BURST,
        appendMaxBurstMs: round2(maxOf('burst')),
        appendMaxQuietMs: round2(maxOf('quiet')),
        appendP50QuietMs: round2(p50Quiet),
        addedMs: round2(addedMs),
        appendP90BurstMs: round2(burstFigures(bursts, 'burst').p90),
        appendP90QuietMs: round2(burstFigures(bursts, 'quiet').p90),
        addedP90Ms: round2(burstFigures(bursts, 'burst').p90 - burstFigures(bursts, 'quiet').p90),
        serverLagBurstMs: round2(lagOf('burst')),
        serverLagQuietMs: round2(lagOf('quiet')),
        serverCpuBurstMs: round2(burstFigures(bursts, 'burst').cpu),
        serverCpuQuietMs: round2(burstFigures(bursts, 'quiet').cpu),
        groupCommitMeanMs: round2(groupCommitMs),
        groupCommits: commits.count,
        floor: {
          windowBytes: floorWindow,
          appendMaxBurstMs: round2(floor.burst.max),
          appendMaxQuietMs: round2(floor.quiet.max),
          addedMs: round2(floor.burst.max - floor.quiet.max),
          addedP90Ms: round2(floor.burst.p90 - floor.quiet.p90),
          serverLagBurstMs: round2(floor.burst.lag),
          serverLagQuietMs: round2(floor.quiet.lag),
          serverCpuBurstMs: round2(floor.burst.cpu),
          serverCpuQuietMs: round2(floor.quiet.cpu),
        },
      },
    }
    process.stdout.write(
      `\n${STALLED} stalled readers: the ${OTHERS} other readers' p99 ${summary.stalled.p99StalledMs} ms vs ${summary.stalled.p99NoneMs} ms without: ` +
        `${summary.stalled.ratio}× (target ≤ 2×); server RSS peak ${summary.stalled.rssPeakStalledMiB} MiB vs ${summary.stalled.rssPeakNoneMiB} MiB, ` +
        `kernel send queues peak ${summary.stalled.sendQueuesPeakStalledMiB} MiB; cuts ${summary.stalled.cutsPerStalledRound.join(', ')}\n` +
        `a burst of ${BURST} connecting readers: appends' max ${summary.burst.appendMaxBurstMs} ms vs ${summary.burst.appendMaxQuietMs} ms without ` +
        `(adds ${summary.burst.addedMs} ms; p90 of all ${summary.burst.appendP90BurstMs} ms vs ${summary.burst.appendP90QuietMs} ms, adds ${summary.burst.addedP90Ms} ms); ` +
        `the server's event loop held up ${summary.burst.serverLagBurstMs} ms at most vs ${summary.burst.serverLagQuietMs} ms, ` +
        `its main thread ran ${summary.burst.serverCpuBurstMs} ms vs ${summary.burst.serverCpuQuietMs} ms; ` +
        `one group commit takes ${summary.burst.groupCommitMeanMs} ms on average (${commits.count} commits)\n` +
        `the floor, the same burst against a bare Node SSE server (windows of ${floorWindow} B): appends' max ${summary.burst.floor.appendMaxBurstMs} ms vs ` +
        `${summary.burst.floor.appendMaxQuietMs} ms without (adds ${summary.burst.floor.addedMs} ms; p90 adds ${summary.burst.floor.addedP90Ms} ms); ` +
        `its event loop held up ${summary.burst.floor.serverLagBurstMs} ms at most vs ${summary.burst.floor.serverLagQuietMs} ms, ` +
        `its main thread ran ${summary.burst.floor.serverCpuBurstMs} ms vs ${summary.burst.floor.serverCpuQuietMs} ms\n`,
    )
    const out = join(here, 'results', quick ? 'stalled-readers.last-run.json' : 'stalled-readers.json')
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          benchmark: 'stalled-readers',
          date: new Date().toISOString(),
          quick,
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg1m: round2(loadavg()[0] ?? 0) },
          settings: { stalled: STALLED, others: OTHERS, pairs: PAIRS, seconds: SECONDS, bytes: BYTES, rate: RATE, burst: BURST },
          summary,
          rounds,
          bursts,
          floorBursts,
        },
        null,
        2,
      )}\n`,
    )
    process.stdout.write(`wrote ${out}\n`)
  } finally {
    await p.destroy().catch(() => {})
    for (const child of [burst, stalled, readers, server]) await child.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

await main()
