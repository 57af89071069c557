/**
 * Starting the standalone server either works or says why: each bad configuration ends with one
 * line on stderr naming the flag or environment variable the user gave, exit code 2, and no stack
 * trace; a second server on a database file already served refuses and changes nothing.
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import type { AddressInfo, Server } from 'node:net'
import { join } from 'node:path'
import Database from 'better-sqlite3'
import { describe, expect } from 'vitest'
import { SETTINGS } from '../src/config.ts'
import { BIN, cleanEnv, run, start, stop } from './bin.ts'
import { test } from './support.ts'

/** What a refusal looks like: one line, our prefix, no trace of a stack. */
function expectOneLine(result: { code: number | null; stdout: string; stderr: string }, pattern: RegExp): void {
  expect(result.code, result.stderr).toBe(2)
  expect(result.stdout).toBe('')
  const lines = result.stderr.split('\n').filter((line) => line !== '')
  expect(lines, result.stderr).toHaveLength(1)
  expect(lines[0]).toMatch(/^statestream-server: /)
  expect(lines[0]).toMatch(pattern)
  expect(result.stderr).not.toMatch(/\n\s+at |Error:|node:internal/)
}

/** A port something else listens on, for as long as the test runs. */
async function takenPort(): Promise<{ port: number; server: Server }> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return { port: (server.address() as AddressInfo).port, server }
}

interface BadCase {
  name: string
  args?: (tmp: string) => string[]
  env?: (tmp: string) => Record<string, string>
  /** The one line, which names what the user gave. */
  line: RegExp
}

/** A PostgreSQL URL for the cases refused before connecting (port 1: nothing answers there). */
const PG_URL = 'postgres://statestream@127.0.0.1:1/streams'

const BAD: BadCase[] = [
  { name: 'a port out of range', args: () => ['--port', '99999'], line: /^statestream-server: --port must be an integer from 0 to 65535, got "99999"$/ },
  { name: 'a port out of range, from the environment', env: () => ({ STATESTREAM_PORT: '99999' }), line: /: STATESTREAM_PORT must be an integer from 0 to 65535/ },
  { name: 'a port that is not a number', args: () => ['--port', 'http'], line: /--port must be an integer from 0 to 65535, got "http"/ },
  { name: 'a wrongly-cased durability', args: () => ['--durability', 'FULL'], line: /--durability must be one of "normal", "full", got "FULL" \(values are lower case: "full"\)/ },
  { name: 'a wrongly-cased durability, from the environment', env: () => ({ STATESTREAM_DURABILITY: 'FULL' }), line: /: STATESTREAM_DURABILITY must be one of "normal", "full", got "FULL"/ },
  { name: 'an unknown log level', args: () => ['--log-level', 'verbose'], line: /--log-level must be one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose"/ },
  { name: 'an unknown log level, from the environment', env: () => ({ STATESTREAM_LOG_LEVEL: 'verbose' }), line: /: STATESTREAM_LOG_LEVEL must be one of/ },
  { name: 'a wrongly-cased log format', args: () => ['--log-format', 'JSON'], line: /--log-format must be one of "auto", "pretty", "json", got "JSON" \(values are lower case: "json"\)/ },
  { name: 'a negative interval', args: () => ['--heartbeat-ms=-5'], line: /--heartbeat-ms must be an integer from 1 to 2147483647, got "-5"/ },
  { name: 'a zero snapshot policy, from the environment', env: () => ({ STATESTREAM_SNAPSHOT_ENTRIES: '0' }), line: /: STATESTREAM_SNAPSHOT_ENTRIES must be an integer of at least 1, got "0"/ },
  { name: 'an unknown flag', args: () => ['--prot', '80'], line: /^statestream-server: unknown flag --prot \(--help lists them\)$/ },
  { name: 'a flag without its value', args: () => ['--db'], line: /: --db needs a value$/ },
  { name: 'a stray argument', args: () => ['4437'], line: /: unexpected argument "4437"/ },
  { name: 'a missing directory', args: (tmp) => ['--db', join(tmp, 'nope', 'dir', 'x.db')], line: /: --db: cannot open .*x\.db: the directory .*dir does not exist$/ },
  { name: 'a missing directory, from the environment', env: (tmp) => ({ STATESTREAM_DB: join(tmp, 'nope', 'x.db') }), line: /: STATESTREAM_DB: cannot open .*x\.db: the directory .*nope does not exist$/ },
  { name: 'a directory given as the database', args: (tmp) => ['--db', tmp], line: /: --db: cannot open .*: it is not a file$/ },
  { name: 'a file that is not a database', args: (tmp) => ['--db', join(tmp, 'notes.txt')], line: /: --db: cannot open .*notes\.txt: it is not an SQLite database$/ },
  { name: "another application's SQLite file", args: (tmp) => ['--db', join(tmp, 'other.sqlite')], line: /: --db: cannot open .*other\.sqlite: it is an SQLite database of another application$/ },
  // Refused before any connection is tried: nothing listens at this URL.
  { name: 'a mixed-case PostgreSQL schema', args: () => ['--store', PG_URL, '--pg-schema', 'Tenant'], line: /: --pg-schema must be lower-case letters, digits and _ \(not starting with a digit\), at most 50 characters, got "Tenant" \(schema names are lower case: "tenant"\)$/ },
  { name: 'a PostgreSQL schema too long for its channel, from the environment', env: () => ({ STATESTREAM_DB: '', STATESTREAM_STORE: PG_URL, STATESTREAM_PG_SCHEMA: 's'.repeat(51) }), line: /: STATESTREAM_PG_SCHEMA must be lower-case .* at most 50 characters, got "s{51}" \(51 characters\)$/ },
  { name: 'a PostgreSQL schema with a dash', args: () => ['--store', PG_URL, '--pg-schema', 'my-app'], line: /: --pg-schema must be lower-case .*, got "my-app"$/ },
  { name: 'a file and a database', args: (tmp) => ['--db', join(tmp, 'x.db'), '--store', PG_URL], line: /: --db and --store both name the store: --db an SQLite file, --store a PostgreSQL database; give one of them$/ },
  { name: 'a file and a database, from the environment', env: () => ({ STATESTREAM_STORE: PG_URL }), line: /: STATESTREAM_DB and STATESTREAM_STORE both name the store/ },
  { name: 'a PostgreSQL setting without a database', args: () => ['--pg-pool-size', '4'], line: /: --pg-pool-size applies only to a PostgreSQL store: set --store to a postgres:\/\/ URL too$/ },
  { name: 'PostgreSQL settings without a database, from the environment', env: () => ({ STATESTREAM_PG_SCHEMA: 'tenant', STATESTREAM_PG_POOL_SIZE: '4' }), line: /: STATESTREAM_PG_SCHEMA and STATESTREAM_PG_POOL_SIZE apply only to a PostgreSQL store: set STATESTREAM_STORE to a postgres:\/\/ URL too$/ },
  { name: 'an SQLite setting with a database', args: () => ['--store', PG_URL, '--durability', 'full'], line: /: --durability applies only to an SQLite store, not with --store \(PostgreSQL's own settings, such as synchronous_commit, decide its durability\)$/ },
  { name: 'SQLite settings with a database, from the environment', env: () => ({ STATESTREAM_DB: '', STATESTREAM_STORE: PG_URL, STATESTREAM_DURABILITY: 'full', STATESTREAM_CHECKPOINT_MS: '0' }), line: /: STATESTREAM_DURABILITY and STATESTREAM_CHECKPOINT_MS apply only to an SQLite store, not with STATESTREAM_STORE/ },
  { name: 'an idle timeout no longer than the heartbeat', args: (tmp) => ['--db', join(tmp, 'x.db'), '--idle-timeout-ms', '100'], line: /: --idle-timeout-ms \(100\) must be longer than --heartbeat-ms \(15000\), or live connections are cut while idle$/ },
  { name: 'a headers timeout longer than the request timeout, from the environment', env: (tmp) => ({ STATESTREAM_DB: join(tmp, 'x.db'), STATESTREAM_HEADERS_TIMEOUT_MS: '30000', STATESTREAM_REQUEST_TIMEOUT_MS: '20000' }), line: /: STATESTREAM_HEADERS_TIMEOUT_MS \(30000\) must not be longer than STATESTREAM_REQUEST_TIMEOUT_MS \(20000\)$/ },
  // Tried, and refused by the network: one line still, with no warning of the pg library's.
  { name: 'an unreachable PostgreSQL database, with an sslmode', env: () => ({ STATESTREAM_DB: '', STATESTREAM_STORE: `${PG_URL}?sslmode=require` }), line: /: STATESTREAM_STORE: cannot open the PostgreSQL store at postgres:\/\/statestream@127\.0\.0\.1:1\/streams\?sslmode=require \(schema public\): connect ECONNREFUSED/ },
  { name: 'an address that is not local', args: (tmp) => ['--db', join(tmp, 'x.db'), '--host', '192.0.2.1'], line: /: --host: cannot listen on 192\.0\.2\.1:0: no such local address$/ },
]

describe('a bad configuration is one line naming the flag or variable, and exit code 2', () => {
  test.for(BAD)('$name', async (bad, { tmp }) => {
    writeFileSync(join(tmp, 'notes.txt'), 'shopping: milk, eggs, bread\n'.repeat(100))
    const other = new Database(join(tmp, 'other.sqlite'))
    other.exec('CREATE TABLE contacts (name TEXT)')
    other.close()
    const before = readFileSync(join(tmp, 'other.sqlite'))
    // Port 0 and a fresh file unless the case says otherwise (a flag wins over the environment).
    const env = cleanEnv({ STATESTREAM_PORT: '0', STATESTREAM_DB: join(tmp, 'default.db'), ...bad.env?.(tmp) })
    const result = await run(bad.args?.(tmp) ?? [], { env })
    expectOneLine(result, bad.line)
    // An environment variable the user set is named, and a flag they never passed is not.
    if (bad.env !== undefined) expect(result.stderr).not.toMatch(/--[a-z]/)
    // Refusing a file changes nothing in it, and leaves nothing beside it.
    expect(readFileSync(join(tmp, 'other.sqlite'))).toEqual(before)
    expect(readdirSync(tmp).filter((name) => name.startsWith('other') || name.startsWith('notes'))).toEqual(['notes.txt', 'other.sqlite'])
  })

  test('a port in use', async ({ tmp }) => {
    const { port, server } = await takenPort()
    try {
      expectOneLine(await run(['--port', String(port), '--db', join(tmp, 'x.db')]), new RegExp(`: --port: 127\\.0\\.0\\.1:${port} is already in use$`))
      expectOneLine(await run([], { env: cleanEnv({ STATESTREAM_PORT: String(port), STATESTREAM_DB: join(tmp, 'x.db') }) }), /: STATESTREAM_PORT: .* is already in use$/)
    } finally {
      server.close()
    }
  })

  // The check a user without write access meets. Root writes anything, so as root it runs as
  // `nobody`, when that user can read the checkout at all.
  const asRoot = process.getuid?.() === 0
  const nobodyCanRun = !asRoot || spawnSync(process.execPath, ['-e', `require('fs').readFileSync(${JSON.stringify(BIN)})`], { uid: 65534, gid: 65534 }).status === 0
  test.skipIf(!nobodyCanRun)('a database file or directory the user cannot write', async ({ tmp }) => {
    chmodSync(tmp, 0o755)
    const locked = join(tmp, 'locked')
    mkdirSync(locked, { mode: 0o755 })
    const readOnly = join(tmp, 'read-only.db')
    writeFileSync(readOnly, '')
    chmodSync(readOnly, 0o444)
    if (!asRoot) chmodSync(locked, 0o555)
    const as = asRoot ? { uid: 65534, gid: 65534 } : {}
    expectOneLine(await run(['--port', '0', '--db', readOnly], as), /: --db: cannot open .*read-only\.db: the file is not writable$/)
    expectOneLine(await run(['--port', '0', '--db', join(locked, 'x.db')], as), /: --db: cannot open .*x\.db: the directory .*locked is not writable$/)
  })
})

describe('the command line', () => {
  test('-h and --help print every flag with its variable and default, and exit 0', async () => {
    for (const flag of ['-h', '--help']) {
      const result = await run([flag])
      expect(result.code).toBe(0)
      for (const row of SETTINGS) {
        expect(result.stdout).toContain(`--${row.flag} ${row.arg}`)
        expect(result.stdout).toContain(`(${row.env}, default ${row.default})`)
      }
    }
  })

  test('-v and --version print the package version', async () => {
    const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
    for (const flag of ['-v', '--version']) expect(await run([flag])).toEqual({ code: 0, stdout: `statestream-server ${version}\n`, stderr: '' })
  })

  test('`--` before the flags (npm start -- --port 0) is accepted', async ({ tmp }) => {
    const server = await start(['--', '--db', join(tmp, 'x.db')])
    expect((await fetch(`${server.baseUrl}/health`)).status).toBe(200)
    expect(await stop(server)).toBe(0)
  })
})

describe('one server per database file', () => {
  test('a second server on a file already served refuses with one line, and the file is unchanged', async ({ tmp }) => {
    const db = join(tmp, 'shared.db')
    const first = await start(['--db', db, '--checkpoint-ms', '0'])
    try {
      const put = await fetch(`${first.baseUrl}/v1/stream/a`, { method: 'PUT', headers: { 'content-type': 'application/json', 'stream-kind': 'state' } })
      expect(put.status).toBe(201)
      const files = readdirSync(tmp).sort()
      const digest = (file: string) => createHash('sha256').update(readFileSync(join(tmp, file))).digest('hex')
      const before = Object.fromEntries(files.map((file) => [file, digest(file)]))

      const second = await run(['--port', '0', '--db', db])
      expectOneLine(second, new RegExp(`: --db: ${db.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is already served by another statestream server`))
      expect(readdirSync(tmp).sort()).toEqual(files)
      expect(Object.fromEntries(files.map((file) => [file, digest(file)]))).toEqual(before)

      // The first one never noticed.
      const post = await fetch(`${first.baseUrl}/v1/stream/a`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"set":{"n":1}}' })
      expect(post.status).toBe(204)
      expect(await (await fetch(`${first.baseUrl}/v1/state/a`)).json()).toMatchObject({ seq: 1, state: { n: 1 } })
    } finally {
      expect(await stop(first)).toBe(0)
    }
    // Once it is gone, the file is free again.
    const third = await start(['--db', db])
    expect(await (await fetch(`${third.baseUrl}/v1/state/a`)).json()).toMatchObject({ seq: 1 })
    expect(await stop(third)).toBe(0)
  })

  test('a server killed with SIGKILL leaves no stale lock', async ({ tmp }) => {
    const db = join(tmp, 'killed.db')
    const first = await start(['--db', db])
    expect(await stop(first, 'SIGKILL')).toBe(null)
    const second = await start(['--db', db])
    expect((await fetch(`${second.baseUrl}/ready`)).status).toBe(200)
    expect(await stop(second)).toBe(0)
  })
})
