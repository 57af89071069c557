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

test.for(SETTINGS.map((row) => [row.flag, row] as const))('--%s and its variable set the same option, and the flag wins', ([, row]) => {
  const defaults = serve([])
  const byFlag = serve([`--${row.flag}`, sample(row)])
  const byEnv = serve([], { [row.env]: sample(row) })
  expect(byFlag).not.toEqual(defaults)
  expect({ ...byEnv, sources: {} }).toEqual({ ...byFlag, sources: {} })
  expect(byFlag.sources).toEqual({ [row.flag]: `--${row.flag}` })
  expect(byEnv.sources).toEqual({ [row.flag]: row.env })
  // Both given: the flag's value, and an empty variable counts as unset.
  expect(serve([`--${row.flag}`, sample(row)], { [row.env]: row.default })).toEqual(byFlag)
  expect(serve([], { [row.env]: '' })).toEqual(defaults)
})

test('every option of the plugin and the store has a row', () => {
  const all = serve(SETTINGS.flatMap((row) => [`--${row.flag}`, sample(row)]))
  const options = [
    ...Object.keys(LIVE_DEFAULTS),
    ...Object.keys(SERVER_LIMIT_DEFAULTS),
    'file', 'postgres', 'durability', 'bodyLimit', 'readChunkBytes', 'cacheSize', 'stateCacheBytes', 'checkpointBytes', 'checkpointMs', 'snapshotPolicy', 'corsOrigins', 'inspector', 'rateLimit',
  ]
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
