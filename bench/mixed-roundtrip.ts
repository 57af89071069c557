/**
 * The CLI's `export --all` → `import` round trip of a server holding every kind of stream: state
 * streams (some closed, some with a TTL or an expiry time), forks of them, JSON streams, and bytes
 * streams of large messages (a read each) and of small ones (read together). Two standalone
 * servers (the built binary, each on its own database); the CLI runs as a user runs it. Prints
 * the streams of each kind, entries, bytes and times, then checks every stream of the copy
 * against the original: its HEAD, every byte of its log (sha256), and for a state stream every
 * window (start state, entries, end) and so its state at any time.
 *
 *   pnpm build && node --conditions=source --import tsx bench/mixed-roundtrip.ts [scale]
 *
 * `scale` (default 1) multiplies the entries of every stream: 1 is about 500,000 entries in all.
 */
import { execFileSync } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { ROOT, startStandalone } from './lib/standalone.ts'

const SCALE = Number(process.argv[2] ?? 1)
const cliBin = join(ROOT, 'packages/cli/bin/statestream.js')
const dir = mkdtempSync(join(tmpdir(), 'statestream-mixed-'))
const children: ChildProcess[] = []

function startServer(name: string, port: number): Promise<string> {
  return startStandalone(join(dir, `${name}.db`), port, children)
}

async function send(url: string, method: 'PUT' | 'POST', name: string, headers: Record<string, string>, body?: string | Buffer): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method, headers, ...(body !== undefined && { body }) })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`${method} ${name}: ${response.statusCode} ${text}`)
}

const STATE = { 'content-type': 'application/json', 'stream-kind': 'state' }

/** Fills the source; returns the names by kind and the entries seeded. */
async function seed(url: string): Promise<{ kinds: Record<string, string[]>; entries: number }> {
  const kinds: Record<string, string[]> = { state: [], fork: [], json: [], bytesLarge: [], bytesSmall: [] }
  let entries = 0
  const base = Date.now() + 60_000
  const stateEntries = 20_000 * SCALE
  for (let s = 0; s < 20; s++) {
    const name = `state/s${s}`
    const extra: Record<string, string> = s % 4 === 1 ? { 'stream-ttl': '86400' } : s % 4 === 2 ? { 'stream-expires-at': '2099-01-01T00:00:00Z' } : {}
    await send(url, 'PUT', name, { ...STATE, 'stream-snapshot-entries': String(500 + s * 50), ...extra })
    for (let done = 0; done < stateEntries; done += 5000) {
      const batch = Array.from({ length: 5000 }, (_, i) => {
        const n = done + i
        return n % 1000 === 0 ? { set: { n, list: [] }, ts: base + n } : n % 3 === 0 ? { patch: [{ op: 'add', path: '/list/-', value: n }], ts: base + n } : { merge: { n, t: (n * 7) % 101 }, ts: base + n }
      })
      await send(url, 'POST', name, { 'content-type': 'application/json' }, JSON.stringify(batch))
    }
    if (s % 5 === 0) await send(url, 'POST', name, { 'content-type': 'application/json', 'stream-closed': 'true' })
    kinds.state?.push(name)
    entries += stateEntries
  }
  for (let f = 0; f < 5; f++) {
    const name = `state/fork${f}`
    const at = Math.floor(stateEntries / 2) + f
    await send(url, 'PUT', name, { 'stream-forked-from': `/v1/stream/state/s${f + 1}`, 'stream-fork-offset': String(at).padStart(16, '0') })
    const batch = Array.from({ length: 2000 }, (_, i) => ({ merge: { fork: f, i } }))
    await send(url, 'POST', name, { 'content-type': 'application/json' }, JSON.stringify(batch))
    kinds.fork?.push(name)
    entries += at + 2000
  }
  const jsonMessages = 10_000 * SCALE
  for (let j = 0; j < 10; j++) {
    const name = `json/j${j}`
    await send(url, 'PUT', name, { 'content-type': 'application/json' })
    for (let done = 0; done < jsonMessages; done += 5000) {
      const batch = Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? { level: 'info', n: done + i, text: `é${i}` } : [done + i, null, 'x']))
      await send(url, 'POST', name, { 'content-type': 'application/json' }, JSON.stringify(batch))
    }
    if (j % 2 === 0) await send(url, 'POST', name, { 'content-type': 'application/json', 'stream-closed': 'true' })
    kinds.json?.push(name)
    entries += jsonMessages
  }
  for (let b = 0; b < 5; b++) {
    const name = `bytes/large${b}`
    await send(url, 'PUT', name, { 'content-type': 'application/octet-stream', ...(b === 0 && { 'stream-ttl': '3600' }) })
    for (let m = 0; m < 8; m++) await send(url, 'POST', name, { 'content-type': 'application/octet-stream' }, randomBytes(600_000 + m))
    kinds.bytesLarge?.push(name)
    entries += 8
  }
  const smallMessages = 2000 * SCALE
  for (let b = 0; b < 5; b++) {
    const name = `bytes/small${b}`
    await send(url, 'PUT', name, { 'content-type': 'text/plain; charset=utf-8' })
    for (let m = 0; m < smallMessages; m++) await send(url, 'POST', name, { 'content-type': 'text/plain; charset=utf-8' }, `line ${m} of ${name}\n`)
    kinds.bytesSmall?.push(name)
    entries += smallMessages
  }
  return { kinds, entries }
}

function cli(args: string[]): { seconds: number; output: string } {
  const started = performance.now()
  const output = execFileSync(process.execPath, [cliBin, ...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 })
  return { seconds: (performance.now() - started) / 1000, output }
}


/** What a reader sees of a stream, as digests: HEAD, log bytes, and for a state stream every window. */
async function view(url: string, name: string): Promise<{ head: string; log: string; windows?: string; offsets: string }> {
  const head = await request(`${url}/v1/stream/${name}`, { method: 'HEAD' })
  await head.body.dump()
  const keep = ['content-type', 'stream-kind', 'stream-snapshot-entries', 'stream-snapshot-bytes', 'stream-snapshot-ms', 'stream-closed', 'stream-ttl', 'stream-expires-at']
  const headText = JSON.stringify(keep.map((key) => head.headers[key]))
  const hash = createHash('sha256')
  let offset = '-1'
  for (;;) {
    const response = await request(`${url}/v1/stream/${name}?offset=${offset}`)
    const body = Buffer.from(await response.body.arrayBuffer())
    // A JSON stream's reads are arrays: hash the messages, whatever reads they came in.
    if (String(response.headers['content-type']).startsWith('application/json')) for (const m of JSON.parse(body.toString()) as unknown[]) hash.update(`${JSON.stringify(m)}\n`)
    else hash.update(body)
    offset = String(response.headers['stream-next-offset'])
    if (response.headers['stream-up-to-date'] === 'true') break
  }
  const out = { head: headText, log: hash.digest('hex'), offsets: String(head.headers['stream-next-offset']) }
  if (head.headers['stream-kind'] !== 'state') return out
  const listing = await request(`${url}/v1/windows/${name}`)
  const layout = (await listing.body.json()) as { windows: Array<{ start: { seq: number } }> }
  const windows = createHash('sha256').update(JSON.stringify(layout))
  for (const window of layout.windows) {
    const response = await request(`${url}/v1/window/${name}?seq=${window.start.seq}`)
    windows.update(await response.body.text())
  }
  return { ...out, windows: windows.digest('hex') }
}

async function main(): Promise<void> {
  const source = await startServer('source', 4961)
  const target = await startServer('target', 4962)
  const seedStart = performance.now()
  const { kinds, entries } = await seed(source)
  console.log(`seeded ${entries.toLocaleString('en-US')} entries in ${((performance.now() - seedStart) / 1000).toFixed(1)} s`)
  for (const [kind, names] of Object.entries(kinds)) console.log(`  ${kind}: ${names.length} streams`)

  const file = join(dir, 'all.ndjson')
  const exported = cli(['--url', source, 'export', '--all', '-o', file])
  const bytes = statSync(file).size
  console.log(`export --all: ${bytes.toLocaleString('en-US')} bytes in ${exported.seconds.toFixed(1)} s`)
  const imported = cli(['--url', target, 'import', file])
  console.log(`import: ${imported.seconds.toFixed(1)} s (${imported.output.trim().split('\n').length} streams imported)`)
  const again = cli(['--url', target, 'import', file])
  const appendedAgain = again.output.split('\n').filter((line) => line !== '' && !line.includes(': 0 entries appended')).length
  console.log(`import again: ${again.seconds.toFixed(1)} s, streams with anything appended: ${appendedAgain}`)

  let failures = 0
  for (const [kind, names] of Object.entries(kinds)) {
    let same = 0
    let sameOffsets = 0
    for (const name of names) {
      const [a, b] = [await view(source, name), await view(target, name)]
      if (a.head === b.head && a.log === b.log && a.windows === b.windows) same += 1
      else console.log(`  DIFFERENT: ${name}`)
      if (a.offsets === b.offsets) sameOffsets += 1
    }
    console.log(`check ${kind}: ${same}/${names.length} identical (HEAD, log bytes${kind === 'state' || kind === 'fork' ? ', every window' : ''}), ${sameOffsets}/${names.length} with the same head offset`)
    failures += names.length - same
  }
  const copy = join(dir, 'copy.ndjson')
  cli(['--url', target, 'export', '--all', '-o', copy])
  console.log(`re-export of the copy: ${statSync(copy).size.toLocaleString('en-US')} bytes`)
  if (failures > 0 || appendedAgain > 0) process.exitCode = 1
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
