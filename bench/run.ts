/**
 * `pnpm bench [--quick] [--only append,live,history,time-travel,memory,replicas] [--profile]`
 *
 * Runs every workload against statestream and, in the same run, its peers; writes
 * `results/latest.md` and `results/latest.json` after a full run (a quick or partial run writes
 * `results/last-run.*` instead). See README.md.
 */
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir, cpus } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { fmt } from './lib/stats.ts'
import type { Context, Row } from './lib/types.ts'
import { appendWorkload } from './workloads/append.ts'
import { liveWorkload } from './workloads/live.ts'
import { historyWorkload } from './workloads/history.ts'
import { memoryWorkload } from './workloads/memory.ts'
import { replicasWorkload } from './workloads/replicas.ts'
import { timeTravelWorkload } from './workloads/time-travel.ts'

const WORKLOADS: Record<string, (ctx: Context) => Promise<Row[]>> = {
  append: appendWorkload,
  live: liveWorkload,
  history: historyWorkload,
  'time-travel': timeTravelWorkload,
  memory: memoryWorkload,
  replicas: replicasWorkload,
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    profile: { type: 'boolean', default: false },
    out: { type: 'string' },
  },
  // `pnpm bench -- --quick` passes a lone `--` through.
  allowPositionals: true,
})
const quick = values.quick ?? false
const only = values.only?.split(',').map((name) => name.trim()) ?? Object.keys(WORKLOADS)
for (const name of only) if (!(name in WORKLOADS)) throw new Error(`unknown workload "${name}" (${Object.keys(WORKLOADS).join(', ')})`)

const here = fileURLToPath(new URL('.', import.meta.url))
const tmp = mkdtempSync(join(tmpdir(), 'statestream-bench-'))
const profileDir = join(here, 'results', 'profiles')
if (values.profile) mkdirSync(profileDir, { recursive: true })
const ctx: Context = {
  quick,
  tmp,
  log: (line) => process.stderr.write(`${line}\n`),
  serverNodeArgs: values.profile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
}

const started = Date.now()
const rows: Row[] = []
const failures: Array<{ workload: string; error: string }> = []
try {
  for (const name of only) {
    ctx.log(`== ${name}${quick ? ' (quick)' : ''}`)
    const workloadStarted = Date.now()
    try {
      rows.push(...(await (WORKLOADS[name] as (ctx: Context) => Promise<Row[]>)(ctx)))
      ctx.log(`== ${name}: ${fmt((Date.now() - workloadStarted) / 1000, 1)} s`)
    } catch (error) {
      ctx.log(`${name} failed: ${(error as Error).stack ?? String(error)}`)
      failures.push({ workload: name, error: String((error as Error).message ?? error) })
    }
  }
} finally {
  rmSync(tmp, { recursive: true, force: true })
}

const seconds = (Date.now() - started) / 1000
const machine = `${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${process.platform}`
const outDir = values.out ?? join(here, 'results')
mkdirSync(outDir, { recursive: true })
// Only a full run of every workload is the record (`latest.*`); a quick or partial run writes
// `last-run.*`, so trying one workload never replaces the full table.
const full = !quick && values.only === undefined
const base = full ? 'latest' : 'last-run'
writeFileSync(
  join(outDir, `${base}.json`),
  `${JSON.stringify({ date: new Date(started).toISOString(), quick, seconds, machine, workloads: only, rows, failures }, null, 2)}\n`,
)
writeFileSync(join(outDir, `${base}.md`), markdown())
process.stdout.write(markdown())
process.exit(failures.length > 0 ? 1 : 0)

function markdown(): string {
  const lines = [
    `# statestream benchmarks${quick ? ' — QUICK run (smaller sizes, fewer rounds)' : ''}`,
    '',
    `${new Date(started).toISOString()} · ${machine} · ${fmt(seconds, 0)} s · workloads: ${only.join(', ')}`,
    '',
    'Every figure is the median of several rounds after a warm-up; every ratio compares figures taken in this',
    'run, on this machine. Append rounds alternate between the servers; live and memory measure each system',
    'alone with its readers. Absolute figures depend on the machine (and on anything else it runs):',
    'the ratios are the result. Notes give the CPU each side used.',
    '',
    '| workload | measure | statestream | peer | peer figure | ratio | target | met? |',
    '|---|---|---:|---|---:|---:|---|:---:|',
  ]
  for (const row of rows) {
    const digits = row.unit === 'ms' || row.unit.startsWith('KB') || row.unit === '×' ? 2 : 0
    const value = (v: number | null): string => (v === null ? 'n/a' : `${fmt(v, digits)} ${row.unit}`)
    const ratio = row.ratio === null || !Number.isFinite(row.ratio) ? 'n/a' : `${fmt(row.ratio, row.ratio < 10 ? 2 : 1)} (${row.ratioMeaning})`
    const met = row.met === null ? '—' : row.met ? 'yes' : '**no**'
    lines.push(`| ${row.workload} | ${row.metric} | ${value(row.statestream)} | ${row.peer || '—'} | ${value(row.peerValue)} | ${ratio} | ${row.target} | ${met} |`)
  }
  const notes = rows.filter((row) => row.note !== undefined)
  if (notes.length > 0 || failures.length > 0) {
    lines.push('', '## Notes', '')
    for (const row of notes) lines.push(`- ${row.workload}, ${row.metric}: ${row.note}`)
    for (const failure of failures) lines.push(`- workload ${failure.workload} FAILED: ${failure.error}`)
  }
  return `${lines.join('\n')}\n`
}
