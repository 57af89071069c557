/**
 * `node startup.ts [rounds]`: the standalone server's start-up, compiled against run through tsx,
 * side by side. Each round starts both, alternating which goes first, each on a fresh database in
 * a temporary directory and port 0: once as users run it (`bin/statestream-server.js`, the
 * compiled `dist/`), once from the TypeScript sources (`node --conditions=source --import tsx
 * src/main.ts`, in one process, as a tsx-run server did). Measured: the wall time from spawn to
 * the "statestream ready" log line, and the process's resident memory (VmRSS) at that moment.
 * Printed: the median and range of each, and their ratio. Needs `pnpm build` first (the compiled
 * server refuses to start without `dist/`).
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROUNDS = Number(process.argv[2] ?? 15)
const server = fileURLToPath(new URL('../packages/server/', import.meta.url))

interface Start {
  ms: number
  rssMb: number
}

const variants = {
  compiled: [join(server, 'bin/statestream-server.js')],
  tsx: [
    '--conditions=source',
    '--import',
    'tsx',
    '--input-type=module',
    '-e',
    `const { runServer } = await import(${JSON.stringify(join(server, 'src/main.ts'))}); await runServer(process.argv.slice(1), process.env)`,
    '--',
  ],
} as const
type Variant = keyof typeof variants

function rssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1])
  return kb / 1024
}

function start(variant: Variant): Promise<Start> {
  const dir = mkdtempSync(join(tmpdir(), 'startup-'))
  const began = performance.now()
  const child = spawn(process.execPath, [...variants[variant], '--port', '0', '--host', '127.0.0.1', '--db', join(dir, 'x.db')], {
    cwd: server,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise<Start>((resolve, reject) => {
    let out = ''
    let err = ''
    child.stderr.on('data', (chunk: Buffer) => (err += chunk))
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk
      if (!out.includes('statestream ready')) return
      const ms = performance.now() - began
      const rss = rssMb(child.pid!)
      child.stdout.removeAllListeners('data')
      child.once('exit', () => {
        rmSync(dir, { recursive: true, force: true })
        resolve({ ms, rssMb: rss })
      })
      child.kill('SIGTERM')
    })
    child.once('exit', (code) => {
      if (!out.includes('statestream ready')) reject(new Error(`${variant} exited ${code} before it was ready: ${err || out}`))
    })
  })
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const results: Record<Variant, Start[]> = { compiled: [], tsx: [] }
// One unmeasured start of each warms the file cache.
await start('compiled')
await start('tsx')
for (let round = 0; round < ROUNDS; round++) {
  const order: Variant[] = round % 2 ? ['tsx', 'compiled'] : ['compiled', 'tsx']
  for (const variant of order) results[variant].push(await start(variant))
}

const summary = (Object.keys(results) as Variant[]).map((variant) => {
  const ms = results[variant].map((r) => r.ms)
  const rss = results[variant].map((r) => r.rssMb)
  return {
    variant,
    medianMs: median(ms),
    minMs: Math.min(...ms),
    maxMs: Math.max(...ms),
    medianRssMb: median(rss),
    minRssMb: Math.min(...rss),
    maxRssMb: Math.max(...rss),
  }
})
console.log(`start-up of the standalone server, ${ROUNDS} rounds, alternating (median [min–max])`)
for (const s of summary) {
  console.log(
    `${s.variant.padEnd(9)} ${s.medianMs.toFixed(0)} ms [${s.minMs.toFixed(0)}–${s.maxMs.toFixed(0)}]   ` +
      `RSS ${s.medianRssMb.toFixed(1)} MB [${s.minRssMb.toFixed(1)}–${s.maxRssMb.toFixed(1)}]`,
  )
}
const [compiled, tsx] = summary
console.log(`tsx / compiled: time ${(tsx!.medianMs / compiled!.medianMs).toFixed(2)}×, RSS ${(tsx!.medianRssMb / compiled!.medianRssMb).toFixed(2)}×`)
