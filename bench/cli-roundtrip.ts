/**
 * The CLI's export → import round trip on a large stream, as a person at a terminal runs it: two
 * standalone servers (the built binary, each on its own database), one stream of N entries
 * (default 1,000,000), `statestream export` and then `statestream import` each run under
 * `script` so they see a TTY and draw their progress bars. Prints entries, bytes and times, and
 * checks the copy: its export is byte for byte the original and its window layout the same.
 *
 *   pnpm build && node --conditions=source --import tsx bench/cli-roundtrip.ts [entries]
 */
import { execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { ROOT, startStandalone } from './lib/standalone.ts'

const ENTRIES = Number(process.argv[2] ?? 1_000_000)
const BATCH = 5000
const cliBin = join(ROOT, 'packages/cli/bin/statestream.js')
const dir = mkdtempSync(join(tmpdir(), 'statestream-roundtrip-'))
const children: ChildProcess[] = []

function startServer(name: string, port: number): Promise<string> {
  return startStandalone(join(dir, `${name}.db`), port, children)
}

/** Runs the CLI under `script`, so it has a TTY; the bar's last frame is shown. */
function cliOnTty(args: string[]): { seconds: number; output: string } {
  const command = [process.execPath, cliBin, ...args].map((part) => `'${part.replace(/'/g, "'\\''")}'`).join(' ')
  const started = performance.now()
  const output = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, env: { ...process.env, COLUMNS: '160' } })
  return { seconds: (performance.now() - started) / 1000, output }
}

/** The bar's last frame in a terminal transcript (the bar redraws its line in place, starting with its label). */
function lastFrame(output: string, label: string): string {
  const plain = output.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1b[78]/g, '')
  const start = plain.lastIndexOf(`${label} `)
  return start === -1 ? '(no bar)' : (plain.slice(start).split(/\r|\n/)[0] ?? '').trim()
}

async function main(): Promise<void> {
  const source = await startServer('source', 4951)
  const target = await startServer('target', 4952)
  const name = 'bench/roundtrip'
  let response = await request(`${source}/v1/stream/${name}`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
  await response.body.dump()
  const base = Date.now() + 60_000
  const seedStart = performance.now()
  for (let done = 0; done < ENTRIES; done += BATCH) {
    const messages = Array.from({ length: Math.min(BATCH, ENTRIES - done) }, (_, i) => {
      const n = done + i
      return { merge: { station: n % 7, t: Math.round(Math.sin(n / 100) * 1000) / 100, n }, ts: base + Math.floor(n / 4) }
    })
    response = await request(`${source}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(messages) })
    await response.body.dump()
    if (response.statusCode >= 300) throw new Error(`seed: ${response.statusCode}`)
  }
  console.log(`seeded ${ENTRIES.toLocaleString('en-US')} entries in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`)

  const file = join(dir, 'export.ndjson')
  const exported = cliOnTty(['--url', source, 'export', name, '-o', file])
  const bytes = statSync(file).size
  console.log(`export: ${ENTRIES.toLocaleString('en-US')} entries, ${bytes.toLocaleString('en-US')} bytes, ${exported.seconds.toFixed(1)} s`)
  console.log(`    ${lastFrame(exported.output, 'export')}`)
  const imported = cliOnTty(['--url', target, 'import', file])
  console.log(`import: ${imported.seconds.toFixed(1)} s`)
  console.log(`    ${lastFrame(imported.output, 'import')}`)

  // The copy: the same export, byte for byte, and the same windows.
  const copy = join(dir, 'copy.ndjson')
  cliOnTty(['--url', target, 'export', name, '-o', copy])
  const digest = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex')
  const same = digest(copy) === digest(file)
  const layout = async (url: string) => {
    const r = await request(`${url}/v1/windows/${name}`)
    return r.body.text()
  }
  const sameWindows = (await layout(source)) === (await layout(target))
  console.log(`copy: export ${same ? 'identical' : 'DIFFERENT'} (sha256), windows ${sameWindows ? 'identical' : 'DIFFERENT'}`)
  if (!same || !sameWindows) process.exitCode = 1
}

main()
  .catch((err: unknown) => {
    console.error(err)
    process.exitCode = 1
  })
  .finally(() => {
    for (const child of children) child.kill('SIGTERM')
    setTimeout(() => rmSync(dir, { recursive: true, force: true }), 500)
  })
