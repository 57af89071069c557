/**
 * The standalone server's configuration table: every option of the plugin has a flag and an
 * environment variable, both set the same option, a flag wins over its variable, and the README
 * documents every row.
 */
import { readFileSync } from 'node:fs'
import { DEFAULT_SNAPSHOT_POLICY } from '@statestream/common'
import { expect, test } from 'vitest'
import { ConfigError, SETTINGS, readConfig } from '../src/config.ts'
import type { ServerConfig, Setting } from '../src/config.ts'
import { LIVE_DEFAULTS } from '../src/live/live-hub.ts'
import { SERVER_LIMIT_DEFAULTS } from '../src/server-limits.ts'

/** A valid value of `row` other than its default. */
function sample(row: Setting): string {
  const words: Record<string, string> = {
    host: 'localhost',
    db: 'elsewhere.db',
    store: 'postgres://statestream@127.0.0.1/streams',
    'pg-schema': 'other',
    durability: 'full',
    'log-level': 'debug',
    'log-format': 'json',
    'cors-origins': 'https://a.example',
    inspector: 'off',
  }
  return words[row.flag] ?? String(Number(row.default) + 1)
}

function serve(argv: string[], env: Record<string, string> = {}): ServerConfig {
  const command = readConfig(argv, env)
  if (command.kind !== 'serve') throw new Error(`not a serve command: ${command.kind}`)
  return command.config
}

/** What `row` needs beside it to mean anything: the PostgreSQL settings, a PostgreSQL store. */
function context(row: Setting): string[] {
  return row.flag.startsWith('pg-') ? ['--store', sample({ flag: 'store' } as Setting)] : []
}

test.for(SETTINGS.map((row) => [row.flag, row] as const))('--%s and its variable set the same option, and the flag wins', ([, row]) => {
  const around = context(row)
  const defaults = serve(around)
  const byFlag = serve([...around, `--${row.flag}`, sample(row)])
  const byEnv = serve(around, { [row.env]: sample(row) })
  expect(byFlag).not.toEqual(defaults)
  expect({ ...byEnv, sources: {} }).toEqual({ ...byFlag, sources: {} })
  expect(byFlag.sources).toEqual({ ...defaults.sources, [row.flag]: `--${row.flag}` })
  expect(byEnv.sources).toEqual({ ...defaults.sources, [row.flag]: row.env })
  // Both given: the flag's value, and an empty variable counts as unset.
  expect(serve([...around, `--${row.flag}`, sample(row)], { [row.env]: row.default })).toEqual(byFlag)
  expect(serve(around, { [row.env]: '' })).toEqual(defaults)
})

test('every option of the plugin and the store has a row', () => {
  // Every flag but those of an SQLite file (--db, --durability, --checkpoint-ms), which go with
  // the other kind of store and are checked on their own below.
  const sqliteOnly = ['db', 'durability', 'checkpoint-ms']
  const all = serve(SETTINGS.filter((row) => !sqliteOnly.includes(row.flag)).flatMap((row) => [`--${row.flag}`, sample(row)]))
  const file = serve(SETTINGS.filter((row) => sqliteOnly.includes(row.flag)).flatMap((row) => [`--${row.flag}`, sample(row)]))
  const checkpointMs = SETTINGS.find((row) => row.flag === 'checkpoint-ms') as Setting
  expect({ file: file.app.file, durability: file.app.durability, checkpointMs: file.app.checkpointMs }).toEqual({
    file: 'elsewhere.db',
    durability: 'full',
    checkpointMs: Number(checkpointMs.default) + 1,
  })
  const options = [
    ...Object.keys(LIVE_DEFAULTS),
    ...Object.keys(SERVER_LIMIT_DEFAULTS),
    'file', 'postgres', 'durability', 'bodyLimit', 'readChunkBytes', 'cacheSize', 'stateCacheBytes', 'checkpointBytes', 'checkpointMs', 'snapshotPolicy', 'corsOrigins', 'inspector', 'rateLimit',
  ]
  // Set only with a file (and checked above): the others are all set without one.
  for (const option of ['durability', 'checkpointMs']) options.splice(options.indexOf(option), 1)
  for (const option of options) expect(all.app, option).toHaveProperty(option)
  expect(Object.keys(all.app.snapshotPolicy).sort()).toEqual(Object.keys(DEFAULT_SNAPSHOT_POLICY).sort())
  expect(Object.keys(all.app).sort()).toEqual([...options].sort())
})

test('each flag and variable is unique', () => {
  expect(new Set(SETTINGS.map((row) => row.flag)).size).toBe(SETTINGS.length)
  expect(new Set(SETTINGS.map((row) => row.env)).size).toBe(SETTINGS.length)
  for (const row of SETTINGS) expect(row.env).toBe(`STATESTREAM_${row.flag.toUpperCase().replaceAll('-', '_')}`)
})

test('a bad value names what the user gave: the flag, or else the variable', () => {
  expect(() => serve(['--clock-ms', 'soon'])).toThrow(new ConfigError('--clock-ms must be an integer from 1 to 2147483647, got "soon"'))
  expect(() => serve([], { STATESTREAM_CLOCK_MS: 'soon' })).toThrow(new ConfigError('STATESTREAM_CLOCK_MS must be an integer from 1 to 2147483647, got "soon"'))
  // A good flag hides a bad variable: the flag is what counts.
  expect(serve(['--clock-ms', '5'], { STATESTREAM_CLOCK_MS: 'soon' }).app.clockMs).toBe(5)
})

test('a setting that would be ignored is refused: a file beside a database, PostgreSQL settings without one', () => {
  const url = 'postgres://h/db'
  expect(() => serve(['--db', 'a.db', '--store', url])).toThrow(
    new ConfigError('--db and --store both name the store: --db an SQLite file, --store a PostgreSQL database; give one of them'),
  )
  expect(() => serve(['--store', url], { STATESTREAM_DB: 'a.db' })).toThrow(/^STATESTREAM_DB and --store both name the store/)
  expect(() => serve(['--pg-schema', 'x'])).toThrow(new ConfigError('--pg-schema applies only to a PostgreSQL store: set --store to a postgres:// URL too'))
  expect(() => serve(['--db', 'a.db', '--pg-pool-size', '4'], { STATESTREAM_PG_SCHEMA: 'x' })).toThrow(/^STATESTREAM_PG_SCHEMA and --pg-pool-size apply only to a PostgreSQL store/)
  expect(serve(['--store', url, '--pg-schema', 'x', '--pg-pool-size', '4']).app.postgres).toEqual({ url, schema: 'x', poolSize: 4 })
})

test('--pg-schema takes only names the store can use unquoted and in its channel name', () => {
  const url = 'postgres://h/db'
  for (const good of ['public', '_a', 'a1_b', 'x'.repeat(50)]) expect(serve(['--store', url, '--pg-schema', good]).app.postgres?.schema).toBe(good)
  const rule = 'must be lower-case letters, digits and _ (not starting with a digit), at most 50 characters'
  expect(() => serve(['--store', url, '--pg-schema', 'Tenant'])).toThrow(new ConfigError(`--pg-schema ${rule}, got "Tenant" (schema names are lower case: "tenant")`))
  expect(() => serve(['--store', url, '--pg-schema', 'x'.repeat(51)])).toThrow(new ConfigError(`--pg-schema ${rule}, got "${'x'.repeat(51)}" (51 characters)`))
  for (const bad of ['1a', 'a-b', 'a b', 'a;drop', 'é']) expect(() => serve(['--store', url, '--pg-schema', bad]), bad).toThrow(new ConfigError(`--pg-schema ${rule}, got ${JSON.stringify(bad)}`))
  expect(() => serve(['--store', url], { STATESTREAM_PG_SCHEMA: 'Tenant' })).toThrow(/^STATESTREAM_PG_SCHEMA must be lower-case/)
})

test('the README documents every flag with its variable and default', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8')
  for (const row of SETTINGS) expect(readme).toContain(`| \`--${row.flag}\` | \`${row.env}\` | \`${row.default}\` |`)
})

test('--cors-origins takes *, off, or exact origins', () => {
  expect(serve(['--cors-origins', '*']).app.corsOrigins).toBe('*')
  expect(serve(['--cors-origins', 'off']).app.corsOrigins).toBe(false)
  expect(serve(['--cors-origins', 'https://a.example, http://localhost:3000']).app.corsOrigins).toEqual(['https://a.example', 'http://localhost:3000'])
  for (const bad of ['a.example', 'https://a.example/', 'https://a.example/path', '']) {
    expect(() => serve(['--cors-origins', bad]), bad).toThrow(ConfigError)
  }
})
