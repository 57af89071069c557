/**
 * The packages as a user gets them: `pnpm pack` each one, install the tarballs with npm into an
 * application outside the workspace, and use them there the two ways users do:
 * - a plain `.mjs` script starts the server through its `statestream-server` bin, then writes,
 *   reads a window and tails live through the client;
 * - a TypeScript consumer (`module: NodeNext`, `strict`, nothing else) passes `tsc --noEmit`.
 * A package that shipped its TypeScript sources, missed its declarations or its build, or pulled
 * in a dependency that needs a newer Node fails here.
 *
 * The one native dependency, better-sqlite3, is installed from the registry like the rest but
 * without its build script; its compiled module is taken from the workspace's copy of the same
 * version, so the test does not spend two minutes compiling SQLite (a full `npm install` does,
 * and works the same).
 */
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, test } from 'vitest'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PACKAGES = join(ROOT, 'packages')

interface Manifest {
  name: string
  version: string
  private?: boolean
  packageManager?: string
  exports?: Record<string, Record<string, string>>
  dependencies?: Record<string, string>
  engines?: { node?: string }
}

const manifest = (dir: string): Manifest => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest
const published = readdirSync(PACKAGES)
  .map((name) => join(PACKAGES, name))
  .filter((dir) => manifest(dir).private !== true)

let work: string
let app: string
const tarballs = new Map<string, string>()
let installLog = ''

/** Runs a command to its end: its stdout, and also its stderr with `all`; throws with both if it fails. */
function sh(command: string, args: string[], cwd: string, all = false): string {
  const result = spawnSync(command, args, { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CI: 'true' } })
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed in ${cwd} (${result.status ?? result.signal}):\n${output}`)
  return all ? output : (result.stdout ?? '')
}

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'statestream-pack-'))
  const pnpm = manifest(ROOT).packageManager ?? 'pnpm@10'
  for (const dir of published) {
    const out = join(work, 'tarballs')
    mkdirSync(out, { recursive: true })
    const before = new Set(readdirSync(out))
    sh('npx', ['--yes', pnpm, 'pack', '--pack-destination', out], dir)
    const made = readdirSync(out).filter((file) => !before.has(file))
    expect(made, `pnpm pack in ${dir}`).toHaveLength(1)
    tarballs.set(manifest(dir).name, join(out, made[0] as string))
  }

  // An application of its own, far from the workspace's node_modules.
  app = join(work, 'app')
  mkdirSync(app)
  const dependencies = Object.fromEntries([...tarballs].map(([name, file]) => [name, `file:${file}`]))
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module', dependencies }, null, 2))
  const types = ['typescript@5.9.3', '@types/node@20.19.43']
  installLog = sh('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'warn', ...types], app, true)
  const workspaceSqlite = dirname(createRequire(join(PACKAGES, 'server', 'package.json')).resolve('better-sqlite3/package.json'))
  const appSqlite = join(app, 'node_modules', 'better-sqlite3')
  expect(manifest(appSqlite).version).toBe(manifest(workspaceSqlite).version)
  mkdirSync(join(appSqlite, 'build', 'Release'), { recursive: true })
  copyFileSync(join(workspaceSqlite, 'build', 'Release', 'better_sqlite3.node'), join(appSqlite, 'build', 'Release', 'better_sqlite3.node'))
}, 300_000)

afterAll(() => {
  if (work !== undefined && process.env.KEEP_PACK === undefined) rmSync(work, { recursive: true, force: true })
})

test('each tarball holds built JavaScript and declarations, and no sources, tests or workspace links', () => {
  expect([...tarballs.keys()].sort()).toEqual(published.map((dir) => manifest(dir).name).sort())
  for (const [name, file] of tarballs) {
    const files = sh('tar', ['-tzf', file], work).split('\n').filter(Boolean)
    expect(files, name).toContain('package/dist/index.js')
    expect(files, name).toContain('package/dist/index.d.ts')
    expect(files, name).toContain('package/LICENSE')
    expect(files.filter((path) => /\.ts$/.test(path) && !path.endsWith('.d.ts')), `${name} ships TypeScript sources`).toEqual([])
    expect(files.filter((path) => /(^|\/)(src|test)\//.test(path) || path.endsWith('.tsbuildinfo')), name).toEqual([])
    const packed = JSON.parse(sh('tar', ['-xzOf', file, 'package/package.json'], work)) as Manifest
    expect(JSON.stringify(packed.exports), name).not.toMatch(/"source"|[^d]\.ts"/)
    expect(packed.exports?.['.']).toMatchObject({ types: './dist/index.d.ts', import: './dist/index.js' })
    expect(JSON.stringify(packed.dependencies ?? {}), name).not.toContain('workspace:')
    expect(packed.engines?.node, name).toBeDefined()
  }
})

test('npm installs them on this Node without an engine warning', () => {
  expect(installLog).not.toMatch(/EBADENGINE|Unsupported engine/)
  // Every installed package that declares engines accepts the Node running this test.
  const tree = JSON.parse(sh('npm', ['ls', '--all', '--json', '--long'], app)) as { problems?: string[] }
  expect(tree.problems ?? []).toEqual([])
})

test('a plain .mjs script starts the server through its bin, writes, reads a window and tails live', async () => {
  writeFileSync(
    join(app, 'use.mjs'),
    `import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { StateStreamClient, ErrorCode } from '@statestream/client'
import { apply } from '@statestream/common'
import { buildApp } from '@statestream/server'
import { firstValueFrom, filter } from 'rxjs'

const server = spawn('node_modules/.bin/statestream-server', ['--port', '0', '--db', 'app.db'], { stdio: ['ignore', 'pipe', 'inherit'] })
process.on('exit', () => server.kill('SIGKILL'))
const baseUrl = await new Promise((resolve, reject) => {
  server.once('exit', (code) => reject(new Error('server exited with ' + code)))
  createInterface({ input: server.stdout }).on('line', (line) => {
    const match = /Server listening at (http:\\/\\/[^"]+)/.exec(line)
    if (match) resolve(match[1])
  })
})
const client = new StateStreamClient({ baseUrl })
const station = client.stream('weather/station-1')
await station.create({ snapshot: { entries: 2 } })
await station.append([{ set: { t: 20 } }, { merge: { t: 21 } }, { merge: { rain: 0 } }])
const window = await station.window({ seq: 1 })
const live = firstValueFrom(station.live$.pipe(filter((value) => value.seq === 4)))
await station.append({ merge: { t: 22 } })
const tail = await live
await client.close()
server.kill('SIGTERM')
const code = await new Promise((resolve) => server.once('exit', resolve))
console.log(JSON.stringify({
  window: { status: window.status, start: window.start.seq, entries: window.entries.length, end: window.end?.seq },
  tail: { seq: tail.seq, state: tail.state },
  code,
  codes: typeof ErrorCode.STREAM_NOT_FOUND,
  apply: apply({ a: 1 }, { merge: { b: 2 } }),
  buildApp: typeof buildApp,
  resolved: [import.meta.resolve('@statestream/client'), import.meta.resolve('@statestream/server')],
}))
`,
  )
  const output = await new Promise<string>((resolve, reject) => {
    const child = spawn(process.execPath, ['use.mjs'], { cwd: app, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000)
    // On exit, not close: a server it left behind would hold the pipes open.
    child.once('exit', (code) => {
      clearTimeout(timer)
      if (code === 0) resolve(stdout)
      else reject(new Error(`use.mjs exited with ${code}:\n${stdout}\n${stderr}`))
    })
  })
  const result = JSON.parse(output.trim().split('\n').at(-1) as string) as Record<string, unknown>
  expect(result).toMatchObject({
    // Entries 1 and 2 make the first window; the snapshot after 2 closes it.
    window: { status: 'committed', start: 0, entries: 2, end: 2 },
    tail: { seq: 4, state: { t: 22, rain: 0 } },
    code: 0,
    codes: 'string',
    apply: { a: 1, b: 2 },
    buildApp: 'function',
  })
  for (const url of result.resolved as string[]) expect(url).toMatch(/\/node_modules\/@statestream\/\w+\/dist\/index\.js$/)
}, 120_000)

test('every bin of the packages runs from its tarball', () => {
  const bins = readdirSync(join(app, 'node_modules', '.bin')).filter((name) => name.startsWith('statestream'))
  expect(bins.sort()).toEqual(published.flatMap((dir) => Object.keys((manifest(dir) as { bin?: Record<string, string> }).bin ?? {})).sort())
  for (const bin of bins) expect(sh(join(app, 'node_modules', '.bin', bin), ['--help'], app), bin).toMatch(/--help/)
})

test('a strict NodeNext TypeScript consumer type-checks with no errors', () => {
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', strict: true, noEmit: true }, include: ['consumer.ts'] }, null, 2))
  writeFileSync(
    join(app, 'consumer.ts'),
    `import { StateStreamClient, StateStreamError, ErrorCode } from '@statestream/client'
import type { Json, Message, Mutation } from '@statestream/client'
import { apply, diff } from '@statestream/common'
import type { SnapshotPolicy } from '@statestream/common'
import { buildApp, statestream, StreamStore } from '@statestream/server'
import type { AppOptions, StatestreamOptions } from '@statestream/server'
import Fastify from 'fastify'

interface Weather { t?: number; rain?: number }
const options: AppOptions = { file: ':memory:', durability: 'normal', heartbeatMs: 1000 }
const policy: SnapshotPolicy = { entries: 10, bytes: 1024, ms: 60_000 }
const message: Message = { merge: { t: 1 }, ts: 0 }
const mutation: Mutation = { patch: [{ op: 'add', path: '/rain', value: 0 }] }
const state: Json = apply({}, mutation)
const ops = diff(state, { rain: 1 })

export async function main(): Promise<number> {
  const app = await buildApp(options)
  const host = Fastify()
  const plugin: StatestreamOptions = { store: new StreamStore({ snapshotPolicy: policy }) }
  await host.register(statestream, plugin)
  const client = new StateStreamClient({ baseUrl: 'http://127.0.0.1:4437' })
  const stream = client.stream<Weather>('weather/a')
  try {
    await stream.append(message)
    const now: Weather | undefined = await stream.stateAt(Date.now())
    return (now?.t ?? 0) + ops.length
  } catch (error) {
    if (error instanceof StateStreamError && error.code === ErrorCode.STREAM_NOT_FOUND) return -1
    throw error
  } finally {
    await client.close()
    await app.close()
    await host.close()
  }
}
`,
  )
  const tsc = join(app, 'node_modules', 'typescript', 'bin', 'tsc')
  expect(sh(process.execPath, [tsc, '-p', 'tsconfig.json'], app)).toBe('')
}, 120_000)
