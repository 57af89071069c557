/**
 * Live latency: how long an append takes to reach `/v1/live/<name>` readers.
 *
 *   npx tsx --conditions=source bench/live-latency.ts [--quick]
 *
 * One writer appends at a fixed 50 appends/s while 1, 100 and 1000 SSE readers tail the stream.
 * Three processes (this file, forked with `--serve` and `--write`): the server, the writer, and
 * the readers, so that neither the readers' work nor the server's delays the writer's sends. Each
 * append carries its send time (wall clock at sub-ms resolution, `performance.timeOrigin +
 * performance.now()`, comparable across processes of one machine); a reader subtracts it from its
 * own clock on receipt. Reported per reader count: p50/p99/max of append→receipt over every (entry, reader)
 * pair, entries lost (must be 0), and the CPU each process used meanwhile (share of one core).
 * Writes `bench/results/live-latency.json`.
 */
import { fork } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, loadavg } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Agent, request } from 'undici'

const RATE_PER_SECOND = 50
const STREAM = 'bench/live'

/** Wall-clock ms with sub-ms resolution (comparable across processes, used within one here). */
const now = (): number => performance.timeOrigin + performance.now()

if (process.argv.includes('--serve')) {
  await serve()
} else if (process.argv.includes('--write')) {
  await write(process.argv[process.argv.indexOf('--write') + 1] ?? '', Number(process.argv[process.argv.indexOf('--write') + 2]))
} else {
  await main()
}

/** The writer process: `appends` appends at a fixed rate, each stamped with its send time. */
async function write(url: string, appends: number): Promise<void> {
  const agent = new Agent({ connections: 8, keepAliveTimeout: 60_000 })
  const start = now()
  const pending: Array<Promise<void>> = []
  for (let i = 0; i < appends; i++) {
    const due = start + (i * 1000) / RATE_PER_SECOND
    const wait = due - now()
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait))
    // Not waiting on the response: the rate holds even when an append is slow.
    pending.push(
      request(`${url}/v1/stream/${STREAM}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ merge: { sent: now(), i } }),
        dispatcher: agent,
      }).then((response) => response.body.dump()),
    )
  }
  await Promise.all(pending)
  await agent.close()
  process.send?.({ done: now() - start })
  process.disconnect?.()
}

/** The server process: a statestream app on an ephemeral port, in memory; reports its URL. */
async function serve(): Promise<void> {
  const { buildApp } = await import('@statestream/server')
  const app = await buildApp({})
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  process.send?.({ url })
  process.on('message', (message) => {
    if (message === 'stop') void app.close().then(() => process.exit(0))
    // CPU time so far, so the parent can tell which side of the wire is the bottleneck.
    if (message === 'cpu') process.send?.({ cpu: cpuMs(process.cpuUsage()) })
  })
}

function cpuMs(usage: NodeJS.CpuUsage): number {
  return (usage.user + usage.system) / 1000
}

/** The server process's CPU time so far, in ms. */
function serverCpu(server: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    const onMessage = (message: unknown): void => {
      if (typeof message !== 'object' || message === null || !('cpu' in message)) return
      server.off('message', onMessage)
      resolve((message as { cpu: number }).cpu)
    }
    server.on('message', onMessage)
    server.send('cpu')
  })
}

interface LevelResult {
  readers: number
  appends: number
  samples: number
  p50: number
  p99: number
  max: number
  mean: number
  lost: number
  /** CPU used while the writer ran, as a share of one core: the server process. */
  serverCpu: number
  /** The same for this process (the readers). */
  clientCpu: number
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick')
  const seconds = quick ? 4 : 12
  const levels = [1, 100, 1000]
  const here = dirname(fileURLToPath(import.meta.url))

  const server = fork(fileURLToPath(import.meta.url), ['--serve'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
  const url = await new Promise<string>((resolve, reject) => {
    server.once('message', (message) => resolve((message as { url: string }).url))
    server.once('exit', (code) => reject(new Error(`the server exited (${code})`)))
  })
  const agent = new Agent({ connections: null, pipelining: 1, keepAliveTimeout: 60_000 })
  try {
    const created = await request(`${url}/v1/stream/${STREAM}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state' },
      dispatcher: agent,
    })
    await created.body.dump()

    const results: LevelResult[] = []
    for (const readers of levels) {
      const result = await runLevel(url, agent, server, readers, seconds)
      results.push(result)
      process.stdout.write(
        `  ${readers} readers: p50 ${result.p50.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms, lost ${result.lost}\n`,
      )
    }
    printTable(results)
    // A quick run never replaces the full run's record.
    const out = join(here, 'results', quick ? 'live-latency.last-run.json' : 'live-latency.json')
    mkdirSync(dirname(out), { recursive: true })
    writeFileSync(
      out,
      `${JSON.stringify(
        {
          benchmark: 'live-latency',
          date: new Date().toISOString(),
          quick,
          // The 1-minute load average at the end: on a shared machine, latency tracks it.
          machine: { cpus: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, loadavg1m: round(loadavg()[0] ?? 0) },
          writer: { appendsPerSecond: RATE_PER_SECOND, seconds },
          unit: 'ms, append sent → entry event parsed by the reader',
          results,
        },
        null,
        2,
      )}\n`,
    )
    process.stdout.write(`\nwrote ${out}\n`)
  } finally {
    await agent.close().catch(() => {})
    await stop(server)
  }
}

/** Opens `count` readers, runs the writer for `seconds`, and measures every receipt. */
async function runLevel(url: string, agent: Agent, server: ChildProcess, count: number, seconds: number): Promise<LevelResult> {
  const appends = RATE_PER_SECOND * seconds
  const latencies = new Float64Array(appends * count)
  let samples = 0
  let firstSeq = 0
  const lastSeen = new Array<number>(count).fill(0)
  const bodies: Array<{ destroy(): void }> = []

  // Connect readers a few at a time (a thousand at once is a connect storm, not the measurement).
  const ready: Array<Promise<void>> = []
  for (let r = 0; r < count; r++) {
    ready.push(
      (async () => {
        const response = await request(`${url}/v1/live/${STREAM}`, { dispatcher: agent, headers: { accept: 'text/event-stream' } })
        if (response.statusCode !== 200) throw new Error(`reader ${r}: HTTP ${response.statusCode}`)
        bodies.push(response.body)
        let buffer = ''
        let windowSeen: () => void = () => {}
        const windowed = new Promise<void>((resolve) => (windowSeen = resolve))
        response.body.setEncoding('utf8')
        response.body.on('data', (chunk: string) => {
          buffer += chunk
          let end = buffer.indexOf('\n\n')
          while (end !== -1) {
            const block = buffer.slice(0, end)
            buffer = buffer.slice(end + 2)
            end = buffer.indexOf('\n\n')
            if (block.startsWith('event: window')) windowSeen()
            if (!block.startsWith('event: entry')) continue
            const received = now()
            const data = block.slice(block.indexOf('data: ') + 6)
            const entry = JSON.parse(data) as { seq: number; m: { merge: { sent: number } } }
            lastSeen[r] = entry.seq
            if (entry.seq > firstSeq && samples < latencies.length) latencies[samples++] = received - entry.m.merge.sent
          }
        })
        response.body.on('error', () => {})
        await windowed
      })(),
    )
    if (ready.length % 50 === 0) await Promise.all(ready)
  }
  await Promise.all(ready)

  // The head before this level's writes: entries up to it are not this level's.
  const head = await request(`${url}/v1/stream/${STREAM}`, { method: 'HEAD', dispatcher: agent })
  await head.body.dump()
  firstSeq = Number(head.headers['stream-next-offset'])

  // The writer, in its own process; CPU is measured over its run.
  const serverCpuBefore = await serverCpu(server)
  const clientCpuBefore = process.cpuUsage()
  const start = now()
  const writer = fork(fileURLToPath(import.meta.url), ['--write', url, String(appends)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  })
  await new Promise<void>((resolve, reject) => {
    writer.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`the writer exited (${code})`))))
  })
  const lastSeq = firstSeq + appends
  const elapsed = now() - start
  const serverShare = ((await serverCpu(server)) - serverCpuBefore) / elapsed
  const clientShare = cpuMs(process.cpuUsage(clientCpuBefore)) / elapsed
  // Let every reader catch up (or give up after a while: what is missing then counts as lost).
  const deadline = now() + 30_000
  while (lastSeen.some((seq) => seq < lastSeq) && now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  const lost = lastSeen.reduce((sum, seq) => sum + Math.max(0, lastSeq - seq), 0)
  for (const body of bodies) body.destroy()
  // Give the server a moment to notice the departures before the next level connects.
  await new Promise((resolve) => setTimeout(resolve, 500))

  const sorted = latencies.slice(0, samples).sort()
  const pick = (q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN
  let total = 0
  for (const value of sorted) total += value
  return {
    readers: count,
    appends,
    samples,
    p50: round(pick(0.5)),
    p99: round(pick(0.99)),
    max: round(sorted[sorted.length - 1] ?? Number.NaN),
    mean: round(total / Math.max(1, samples)),
    lost,
    serverCpu: round(serverShare),
    clientCpu: round(clientShare),
  }
}

function round(value: number): number {
  return Math.round(value * 100) / 100
}

function printTable(results: LevelResult[]): void {
  const header = ['readers', 'appends', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'mean ms', 'lost', 'server cpu', 'readers cpu']
  const rows = results.map((r) =>
    [r.readers, r.appends, r.samples, r.p50, r.p99, r.max, r.mean, r.lost, r.serverCpu, r.clientCpu].map(String),
  )
  const widths = header.map((title, i) => Math.max(title.length, ...rows.map((row) => (row[i] ?? '').length)))
  const line = (cells: string[]): string => `| ${cells.map((cell, i) => cell.padStart(widths[i] ?? 0)).join(' | ')} |`
  process.stdout.write(
    `\nlive latency, one writer at ${RATE_PER_SECOND} appends/s, readers on /v1/live/<name> (load average ${loadavg()[0]?.toFixed(2)} on ${cpus().length} cores)\n`,
  )
  process.stdout.write(`${line(header)}\n|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|\n`)
  for (const row of rows) process.stdout.write(`${line(row)}\n`)
}

async function stop(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null) return
  const exited = new Promise<void>((resolve) => server.once('exit', () => resolve()))
  server.send('stop')
  const timer = setTimeout(() => server.kill('SIGKILL'), 5_000)
  await exited
  clearTimeout(timer)
}
