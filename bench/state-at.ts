/**
 * `stateAt` cost against log length. Builds 10k-, 100k- and 1M-entry state streams directly
 * through `StreamStore` (batched appends of ~100-byte merge mutations, the default snapshot
 * policy), then times `view.state(name, { at: T })` and `view.window(name,
 * { at: T })` at random T. Both start from the nearest snapshot, so their cost should be flat in
 * the length of the log: the 1M/10k ratio is the figure to watch.
 *
 *   npx tsx --conditions=source bench/state-at.ts [--quick]
 *
 * Prints a table of p50/p99 in µs per size (medians over rounds, after a warm-up) and writes
 * `bench/results/state-at.json` (`state-at.last-run.json` with `--quick`, which stops at 100k
 * entries with fewer queries).
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { StreamStore } from '@statestream/server'

const quick = process.argv.includes('--quick')
const SIZES = quick ? [10_000, 100_000] : [10_000, 100_000, 1_000_000]
/** Queries before measuring (JIT, SQLite page cache). */
const WARMUP = quick ? 500 : 2000
/** Measured rounds per size; each reports p50/p99, and the table shows their medians. */
const ROUNDS = quick ? 3 : 5
const QUERIES_PER_ROUND = quick ? 500 : 2000
/** Messages per append request, and requests in flight at once (they share a commit). */
const BATCH = 100
const IN_FLIGHT = 20
/** Stream time: created at T0, entry i (1-based) at T0 + i·STEP ms. */
const T0 = 1_700_000_000_000
const STEP = 10
const SENSORS = 50
const NAME = 'bench/state-at'

interface Figures {
  p50Us: number
  p99Us: number
}

interface SizeResult {
  entries: number
  buildSeconds: number
  dbMiB: number
  /** The state at T, with the store's checkpoints inside closed windows. */
  state: Figures
  /** The same questions to a store keeping no checkpoints (each answer replays from the window's snapshot). */
  statePlain: Figures
  window: Figures
}

function percentile(sorted: Float64Array, p: number): number {
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2
}

/** A deterministic PRNG (mulberry32), so every run asks the same questions. */
function random(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Message `i` (1-based): a ~100-byte merge of one sensor's reading, with its own ts. */
function message(i: number): string {
  const sensor = `sensor-${String(i % SENSORS).padStart(2, '0')}`
  const reading = { t: Math.round(Math.sin(i) * 2000) / 100, h: (i * 7) % 100, note: `reading number ${i}`.padEnd(28, '.') }
  return JSON.stringify({ merge: { [sensor]: reading }, ts: T0 + i * STEP })
}

async function build(store: StreamStore, entries: number): Promise<void> {
  await store.create({ name: NAME, contentType: 'application/json', kind: 'state' })
  let next = 1
  while (next <= entries) {
    const requests: Array<Promise<unknown>> = []
    for (let r = 0; r < IN_FLIGHT && next <= entries; r++) {
      const parts: string[] = []
      for (let m = 0; m < BATCH && next <= entries; m++) parts.push(message(next++))
      requests.push(store.append({ name: NAME, contentType: 'application/json', body: Buffer.from(`[${parts.join(',')}]`) }))
    }
    await Promise.all(requests)
  }
}

/** Times `count` queries at random T; checks each answer's seq so the bench measures real work. */
function measure(count: number, rand: () => number, entries: number, query: (at: number) => number): Float64Array {
  const samples = new Float64Array(count)
  for (let q = 0; q < count; q++) {
    const k = Math.floor(rand() * (entries + 1))
    // Half the queries fall between two entries, half exactly on one.
    const at = T0 + k * STEP + (rand() < 0.5 ? 0 : STEP - 1)
    const start = process.hrtime.bigint()
    const seq = query(at)
    samples[q] = Number(process.hrtime.bigint() - start) / 1000
    if (seq !== k) throw new Error(`state at ${at} answered seq ${seq}, expected ${k}`)
  }
  return samples.sort()
}

function rounds(rand: () => number, entries: number, query: (at: number) => number): Figures {
  measure(WARMUP, rand, entries, query)
  const p50: number[] = []
  const p99: number[] = []
  for (let round = 0; round < ROUNDS; round++) {
    const sorted = measure(QUERIES_PER_ROUND, rand, entries, query)
    p50.push(percentile(sorted, 50))
    p99.push(percentile(sorted, 99))
  }
  return { p50Us: median(p50), p99Us: median(p99) }
}

/** `rounds` of two ways of answering, alternating round by round, each asked the same questions. */
function alternating(entries: number, a: (at: number) => number, b: (at: number) => number): [Figures, Figures] {
  const randA = random(entries + 1)
  const randB = random(entries + 1)
  measure(WARMUP, randA, entries, a)
  measure(WARMUP, randB, entries, b)
  const figures = [
    { p50: [] as number[], p99: [] as number[] },
    { p50: [] as number[], p99: [] as number[] },
  ]
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [rand, query]] of ([[randA, a], [randB, b]] as const).entries()) {
      const sorted = measure(QUERIES_PER_ROUND, rand, entries, query)
      figures[i]?.p50.push(percentile(sorted, 50))
      figures[i]?.p99.push(percentile(sorted, 99))
    }
  }
  const [fa, fb] = figures.map((f) => ({ p50Us: median(f.p50), p99Us: median(f.p99) }))
  return [fa as Figures, fb as Figures]
}

async function runSize(entries: number): Promise<SizeResult> {
  const dir = mkdtempSync(join(tmpdir(), 'statestream-bench-'))
  const file = join(dir, 'state-at.db')
  try {
    const built = new StreamStore({ file, now: () => T0 })
    const started = performance.now()
    await build(built, entries)
    const buildSeconds = (performance.now() - started) / 1000
    const head = await built.headState(NAME)
    if (head.seq !== entries) throw new Error(`built ${head.seq} entries, expected ${entries}`)
    const rand = random(entries)
    // The same questions to a second store on the same file that keeps no checkpoints: each of
    // its answers replays from the window's snapshot. Rounds alternate between the two.
    // (A copy of the file: a store holds its file alone.)
    await built.close()
    copyFileSync(file, `${file}.plain`)
    const store = new StreamStore({ file, now: () => T0 })
    const plain = new StreamStore({ file: `${file}.plain`, now: () => T0, checkpointBytes: 0 })
    // Timed inside one read of the store's view: SQLite runs it once, synchronously, so each
    // query is timed alone, as the history reader runs it under every route.
    const [state, statePlain] = await store.read((view) =>
      plain.read((plainView) =>
        alternating(
          entries,
          (at) => view.state(NAME, { at }).seq ?? -1,
          (at) => plainView.state(NAME, { at }).seq ?? -1,
        ),
      ),
    )
    await plain.close()
    const window = await store.read((view) => rounds(rand, entries, (at) => {
      const answer = view.window(NAME, { at })
      // The window for T holds T's entry k: it starts at or before k and ends after it.
      const k = Math.floor((at - T0) / STEP)
      const start = answer.start?.seq ?? Number.POSITIVE_INFINITY
      return start <= k && (answer.end === null || k < answer.end.seq) ? k : -1
    }))
    // Closing checkpoints the WAL, so the file alone is the database.
    await store.close()
    return { entries, buildSeconds, dbMiB: statSync(file).size / 2 ** 20, state, statePlain, window }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

function pad(value: string, width: number): string {
  return value.padStart(width)
}

const results: SizeResult[] = []
console.log(`stateAt benchmark${quick ? ' (quick)' : ''}: ${WARMUP} warm-up queries, ${ROUNDS} rounds × ${QUERIES_PER_ROUND} queries per size`)
for (const entries of SIZES) {
  process.stdout.write(`  building ${entries.toLocaleString('en-US')} entries… `)
  const result = await runSize(entries)
  console.log(`${result.buildSeconds.toFixed(1)} s`)
  results.push(result)
}

const header = ['entries', 'build s', 'DB MiB', 'state p50 µs', 'state p99 µs', 'no-ckpt p50 µs', 'window p50 µs', 'window p99 µs']
const widths = header.map((h) => Math.max(h.length, 11))
console.log()
console.log(header.map((h, i) => pad(h, widths[i] as number)).join('  '))
for (const r of results) {
  const cells = [
    r.entries.toLocaleString('en-US'),
    r.buildSeconds.toFixed(1),
    r.dbMiB.toFixed(1),
    r.state.p50Us.toFixed(0),
    r.state.p99Us.toFixed(0),
    r.statePlain.p50Us.toFixed(0),
    r.window.p50Us.toFixed(0),
    r.window.p99Us.toFixed(0),
  ]
  console.log(cells.map((c, i) => pad(c, widths[i] as number)).join('  '))
}
const smallest = results[0] as SizeResult
const largest = results[results.length - 1] as SizeResult
const ratio = {
  label: `${largest.entries / 1000}k/${smallest.entries / 1000}k`,
  stateP50: largest.state.p50Us / smallest.state.p50Us,
  stateP99: largest.state.p99Us / smallest.state.p99Us,
  windowP50: largest.window.p50Us / smallest.window.p50Us,
  windowP99: largest.window.p99Us / smallest.window.p99Us,
}
console.log()
console.log(
  `ratio ${ratio.label}: state p50 ×${ratio.stateP50.toFixed(2)}, p99 ×${ratio.stateP99.toFixed(2)}; ` +
    `window p50 ×${ratio.windowP50.toFixed(2)}, p99 ×${ratio.windowP99.toFixed(2)}`,
)

// A quick run never replaces the full run's record.
const out = join(dirname(fileURLToPath(import.meta.url)), 'results', quick ? 'state-at.last-run.json' : 'state-at.json')
mkdirSync(dirname(out), { recursive: true })
writeFileSync(
  out,
  `${JSON.stringify(
    {
      benchmark: 'state-at',
      date: new Date().toISOString(),
      quick,
      node: process.version,
      cpu: cpus()[0]?.model ?? 'unknown',
      cores: cpus().length,
      config: { warmup: WARMUP, rounds: ROUNDS, queriesPerRound: QUERIES_PER_ROUND, batch: BATCH, inFlight: IN_FLIGHT, stepMs: STEP, snapshotPolicy: 'default' },
      results,
      ratio,
    },
    null,
    2,
  )}\n`,
)
console.log(`wrote ${out}`)
