/**
 * `pnpm demo`: a guided run of statestream. It starts a server on a temporary SQLite file, has
 * three simulated weather stations write readings (one of them late), and shows a client fetching
 * history windows around a past time, tailing live state, surviving a forced network drop, and
 * lining the stations up at one time — counting every request and every entry it receives.
 *
 * Time is simulated (the server's clock is injected), so the readings carry tidy event times.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { StateStreamClient } from '@statestream/client'
import type { TraceEvent } from '@statestream/client'
import { buildApp } from '@statestream/server'
import { startTcpProxy } from './support/tcp-proxy.ts'

interface Reading {
  t?: number
  wind?: number
  station?: string
}

const MINUTE = 60_000
const T0 = Date.UTC(2024, 0, 1, 6, 0)
let now = T0
const clock = (): number => now
const hhmm = (ts: number): string => new Date(ts).toISOString().slice(11, 16)
const say = (line = ''): void => console.log(line)
const step = (title: string): void => say(`\n── ${title} ${'─'.repeat(Math.max(0, 70 - title.length))}`)

/** What the client did, from its trace: requests, and every entry seq it received per stream. */
class Tally {
  requests: string[] = []
  received = new Map<string, Map<number, number>>()
  onEvent = (event: TraceEvent): void => {
    if (event.type === 'request') this.requests.push(`${event.method} ${event.url}`)
    if (event.type === 'entries') {
      const seqs = this.received.get(event.stream) ?? new Map<number, number>()
      for (let seq = event.first; seq <= event.last; seq++) seqs.set(seq, (seqs.get(seq) ?? 0) + 1)
      this.received.set(event.stream, seqs)
    }
  }
  mark(): number {
    return this.requests.length
  }
  since(mark: number): string[] {
    return this.requests.slice(mark)
  }
  refetched(): number {
    let twice = 0
    for (const seqs of this.received.values()) for (const times of seqs.values()) twice += times - 1
    return twice
  }
  entries(): number {
    let total = 0
    for (const seqs of this.received.values()) total += seqs.size
    return total
  }
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'statestream-demo-'))
  const app = await buildApp({ file: join(dir, 'demo.db'), now: clock, heartbeatMs: 500, clockMs: 300 })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  // The reader talks to the server through a proxy we can pull the plug on.
  const target = new URL(url)
  const net = await startTcpProxy({ host: target.hostname, port: Number(target.port) })
  const tally = new Tally()
  const writer = new StateStreamClient({ baseUrl: url })
  const reader = new StateStreamClient({ baseUrl: net.url, trace: tally.onEvent, watchdogMs: 2_000, backoff: { initialMs: 50, maxMs: 500 } })
  try {
    step('1. Three weather stations write a reading a minute (a snapshot every 10 entries)')
    say(`server: ${url}, database: ${join(dir, 'demo.db')}`)
    const names = ['weather/station-1', 'weather/station-2', 'weather/station-3']
    for (const name of names) await writer.stream(name).create({ snapshot: { entries: 10, ms: 3_600_000 }, messages: [{ set: { station: name.split('/')[1] ?? name } }] })
    // Stations 1 and 2 report on time; station 3's uplink is down and its readings arrive later.
    for (let minute = 0; minute < 60; minute++) {
      now = T0 + minute * MINUTE
      for (const [i, name] of names.slice(0, 2).entries()) {
        await writer.stream<Reading>(name).append({ merge: { t: round(10 + i + Math.sin(minute / 9) * 3), wind: (minute * (i + 3)) % 17 } })
      }
    }
    say('station-1 and station-2: 60 readings each, 06:00–06:59')
    for (let minute = 0; minute < 60; minute++) {
      // Late: written after the others, each stamped with the minute it was measured (its own "ts").
      now = T0 + 59 * MINUTE + minute
      await writer.stream<Reading>(names[2]!).append({ merge: { t: round(8 + Math.cos(minute / 7) * 2), wind: minute % 13 }, ts: T0 + minute * MINUTE })
    }
    say('station-3: its 60 readings arrive late, in one burst at 06:59, each with its measured time')

    step('2. What was station-1 at 06:25? Only the window around 06:25 is fetched')
    const s1 = reader.stream<Reading>('weather/station-1')
    let mark = tally.mark()
    const at = T0 + 25 * MINUTE + 30_000
    say(`state at ${hhmm(at)}: ${JSON.stringify(await s1.stateAt(at))}`)
    const window = await s1.window({ at })
    say(`window: seq ${window.start?.seq}…${window.end?.seq}, ${hhmm(window.start?.ts ?? 0)}–${hhmm(window.end?.ts ?? 0)}, ${window.status}`)
    say(`requests: ${tally.since(mark).join(', ')}`)
    mark = tally.mark()
    for (const minute of [21, 22, 23, 24, 26, 27]) await s1.stateAt(T0 + minute * MINUTE)
    say(`six more reads inside that window: ${tally.since(mark).length} requests`)

    step('3. History 06:00–06:40: held windows are reused, only the gaps are fetched')
    mark = tally.mark()
    let steps = 0
    await new Promise<void>((resolve, reject) =>
      s1.history({ from: T0, to: T0 + 40 * MINUTE }).subscribe({ next: () => void steps++, error: reject, complete: resolve }),
    )
    say(`${steps} states replayed; requests: ${tally.since(mark).length} (${tally.since(mark).map(shortUrl).join(', ')})`)
    printWindows(await firstValue(s1.windows$))

    step('4. Tail station-1 live, then pull the plug on the network')
    const statuses: string[] = []
    s1.status$.subscribe((status) => statuses.push(status))
    const updates: number[] = []
    const subscription = s1.live$.subscribe((s) => {
      updates.push(s.seq)
      say(`  live: seq ${s.seq} at ${hhmm(s.ts)} → t=${s.state.t} wind=${s.state.wind}${s.entry ? '' : '  (current state, first)'}`)
    })
    await until(() => statuses.at(-1) === 'live')
    for (let minute = 60; minute < 63; minute++) {
      now = T0 + minute * MINUTE
      await writer.stream<Reading>(names[0]!).append({ merge: { t: 14 + minute / 100, wind: 5 } })
    }
    await until(() => updates.at(-1) === 64)
    say(`✂ network cut: the reader's ${net.open} open connection(s) reset; two readings are written while it is away`)
    net.cut()
    await until(() => statuses.at(-1) === 'reconnecting')
    for (let minute = 63; minute < 65; minute++) {
      now = T0 + minute * MINUTE
      await writer.stream<Reading>(names[0]!).append({ merge: { t: 14 + minute / 100, wind: 6 } })
    }
    await until(() => updates.at(-1) === 66)
    subscription.unsubscribe()
    say(`status: ${dedupe(statuses).join(' → ')}`)
    const lives = tally.requests.filter((line) => line.includes('/v1/live/'))
    say(`live connections: ${lives.map(shortUrl).join(', ')} — resumed after the last seq applied`)
    say(`seqs seen: ${updates.join(', ')} — no gap, no duplicate`)

    step('5. Grouping the stations at one time (the late station included)')
    for (const minute of [10, 30, 45]) {
      const ts = T0 + minute * MINUTE
      const states = await reader.statesAt<Reading>(names, ts)
      const row = names.map((name) => `${name.split('/')[1]}: t=${states[name]?.t ?? '–'}`).join('   ')
      say(`${hhmm(ts)}  ${row}`)
    }

    step('6. A dashboard: all three stations on one connection, with the server-wide clock')
    // The same reader: station-1's open window is held from section 4, so it is asked for as
    // `weather/station-1@<seq>` and only what it lacks is sent; the others get their open window.
    mark = tally.mark()
    const multi = reader.live<Reading>(names)
    const lines: string[] = []
    let latest = 0
    const sub = multi.states$.subscribe((s) => {
      latest = s.gpos
      lines.push(`  ${s.stream.split('/')[1]} seq ${s.seq} gpos ${s.gpos} t=${s.state.t}`)
    })
    const ticks: number[] = []
    const clockSub = multi.clock$.subscribe((tick) => ticks.push(tick.gpos))
    await until(() => lines.length >= 3)
    now = T0 + 66 * MINUTE
    await writer.stream<Reading>(names[1]!).append({ merge: { t: 12.5 } })
    await until(() => lines.length >= 4 && (ticks.at(-1) ?? -1) >= latest)
    sub.unsubscribe()
    clockSub.unsubscribe()
    for (const line of lines) say(line)
    say(`  clock: gpos ${ticks.at(-1)} (every entry of every stream on this server)`)
    say(`  connection: ${tally.since(mark).map(shortUrl).join(', ')} — station-1 resumes from the seq it holds`)

    step('Summary (the reader of sections 2–6)')
    say(`requests made: ${tally.requests.length}`)
    say(`entries received: ${tally.entries()}; entries refetched: ${tally.refetched()}`)

    step('The inspector')
    say(`the stations in the web inspector: ${url}/inspector/#stream=${names[0]}&compare=${names.join(',')}`)
    if (process.stdin.isTTY && process.env.CI === undefined) {
      // At a terminal the server stays up for the page; in a script the demo ends here.
      say('(the server keeps running: open the link, then Ctrl-C to stop)')
      await new Promise((resolve) => process.once('SIGINT', resolve))
    }
  } finally {
    await reader.close()
    await writer.close()
    await net.close()
    await app.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function shortUrl(line: string): string {
  return (line.split(' ')[1] ?? line).replace(/\?at=(\d+)/, (_, ts: string) => `?at=${hhmm(Number(ts))}`)
}

function dedupe(values: string[]): string[] {
  return values.filter((value, i) => value !== values[i - 1])
}

function printWindows(views: ReadonlyArray<{ status: string; start: { seq: number; ts: number } | undefined; end: { seq: number; ts: number } | null; entries: number }>): void {
  say('held windows of station-1:')
  for (const view of views) {
    const span = `seq ${view.start?.seq ?? '?'}…${view.end?.seq ?? 'open'}`
    say(`  ${view.status.padEnd(9)} ${span.padEnd(14)} ${hhmm(view.start?.ts ?? 0)}–${view.end ? hhmm(view.end.ts) : '…'}  ${view.entries} entries`)
  }
}

function firstValue<T>(source: { subscribe(next: (value: T) => void): { unsubscribe(): void } }): Promise<T> {
  return new Promise((resolve) => {
    const subscription = source.subscribe((value) => {
      resolve(value)
      queueMicrotask(() => subscription.unsubscribe())
    })
  })
}

async function until(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 30_000
  while (!check()) {
    if (Date.now() > deadline) throw new Error('the demo stalled')
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
