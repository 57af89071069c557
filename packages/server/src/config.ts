/**
 * The configuration of the standalone server: one table, `SETTINGS`, whose every row is a flag,
 * its environment variable, how its text is read, and the option it sets. The usage text, the
 * parsing and the errors all come from the table, so adding an option is adding a row.
 *
 * A flag wins over its environment variable; an empty variable counts as unset. Every refusal is
 * a `ConfigError` whose message names what the user actually gave (`--port` or `STATESTREAM_PORT`).
 * Pure: `process` is read only by `main.ts`.
 */
import { DEFAULT_BODY_LIMIT, DEFAULT_PORT, DEFAULT_SNAPSHOT_POLICY, quote } from '@statestream/common'
import type { SnapshotPolicy } from '@statestream/common'
import { parseArgs } from 'node:util'
import type { AppOptions } from './app.ts'
import { DEFAULT_CHECKPOINT_MS } from './checkpointer.ts'
import type { CorsOrigins } from './cors.ts'
import { LIVE_DEFAULTS } from './live/live-hub.ts'
import { DEFAULT_PG_LOCK_TIMEOUT_MS, DEFAULT_PG_QUERY_TIMEOUT_MS, DEFAULT_PG_SCHEMA, isPostgresUrl, redact, schemaNameProblem } from './postgres/pg-options.ts'
import type { PostgresOptions } from './postgres/pg-options.ts'
import { SERVER_LIMIT_DEFAULTS } from './server-limits.ts'

/** Pino's levels, and `silent`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const
export type LogLevel = (typeof LOG_LEVELS)[number]

/** `auto`: human-readable on a terminal, JSON lines otherwise. */
export const LOG_FORMATS = ['auto', 'pretty', 'json'] as const
export type LogFormat = (typeof LOG_FORMATS)[number]

/** Everything the standalone server is started with. */
export interface ServerConfig {
  port: number
  host: string
  logLevel: LogLevel
  logFormat: LogFormat
  /** The options of `buildApp` (the store's, the plugin's, the live routes'). */
  app: AppOptions & { file: string; snapshotPolicy: Partial<SnapshotPolicy> }
  /**
   * Access control as configured: a secret, or the path of a public key or JWKS file, and the
   * claims a token must carry. `main.ts` reads the files (`authFromConfig`) into `app.auth`.
   */
  auth: AuthConfig
  /** `--rate-limit` and its window; `app.rateLimit` is set from them when the limit is not 0. */
  rateLimit: { max: number; timeWindowMs: number }
  /** For each flag the user set, what set it: `--db` or `STATESTREAM_DB` (errors name it). */
  sources: Record<string, string>
  /** The PostgreSQL settings as given; `app.postgres` once `--store` names a database. */
  pg: Partial<PostgresOptions>
}

/** What the auth flags say (none given: access control is off). */
export interface AuthConfig {
  secret?: string
  publicKeyFile?: string
  jwksFile?: string
  issuer?: string
  audience?: string
}

/** The flags that choose the key of access control. */
export const AUTH_KEY_FLAGS = ['auth-secret', 'auth-public-key-file', 'auth-jwks-file'] as const

/** Default window of `--rate-limit`, in ms. */
const RATE_WINDOW_MS = 60_000

/** A configuration the server refuses; its message is one line naming the flag or variable. */
export class ConfigError extends Error {
  override name = 'ConfigError'
}

/** One row of the table. */
export interface Setting {
  /** The flag without its dashes: `port` is `--port`. */
  flag: string
  /** Its environment variable. */
  env: string
  /** What the value is, in the usage: `<n>`, `<ms>`, `<file>`. */
  arg: string
  /** One line of help. */
  help: string
  /** The default, as the usage and the README show it. */
  default: string
  /** Reads `text` into `config`; throws an `Error` whose message follows the name (`must be …`). */
  apply: (text: string, config: ServerConfig) => void
}

/** A row whose value is read by `parse` and stored by `set`. */
function setting<T>(row: Omit<Setting, 'apply'> & { parse: (text: string) => T; set: (config: ServerConfig, value: NoInfer<T>) => void }): Setting {
  const { parse, set, ...rest } = row
  return { ...rest, apply: (text, config) => set(config, parse(text)) }
}

/** Largest timer delay Node honours (about 24.8 days); longer ones would fire at once. */
const MAX_MS = 2_147_483_647

function integer(min: number, max = Number.MAX_SAFE_INTEGER): (text: string) => number {
  return (text) => {
    const value = Number(text)
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? (min === 0 ? 'a non-negative integer' : `an integer of at least ${min}`) : `an integer from ${min} to ${max}`
      throw new Error(`must be ${range}, got ${quote(text)}`)
    }
    return value
  }
}

function oneOf<const T extends string>(values: readonly T[]): (text: string) => T {
  return (text) => {
    if ((values as readonly string[]).includes(text)) return text as T
    const cased = values.find((value) => value === text.toLowerCase())
    const listed = values.map((value) => `"${value}"`).join(', ')
    throw new Error(`must be one of ${listed}, got ${quote(text)}${cased === undefined ? '' : ` (values are lower case: "${cased}")`}`)
  }
}

function postgresUrl(text: string): string {
  if (!isPostgresUrl(text)) throw new Error(`must be a postgres:// URL, got ${quote(redact(text))}`)
  try {
    new URL(text)
  } catch {
    throw new Error(`is not a valid URL: ${quote(redact(text))}`)
  }
  return text
}

function pgSchema(text: string): string {
  const problem = schemaNameProblem(text)
  if (problem !== undefined) throw new Error(problem)
  return text
}

function nonEmpty(text: string): string {
  if (text.trim() === '') throw new Error('must not be empty')
  return text
}

/** `*`, `off`, or a comma-separated list of origins, each exactly `scheme://host[:port]`. */
function corsOrigins(text: string): CorsOrigins {
  if (text === '*') return '*'
  if (text === 'off') return false
  const origins = text.split(',').map((origin) => origin.trim())
  for (const origin of origins) {
    let exact = false
    try {
      exact = new URL(origin).origin === origin
    } catch {
      // Not a URL: refused below.
    }
    if (!exact) throw new Error(`must be *, off or a list of origins like https://app.example.com, got ${quote(origin)}`)
  }
  return origins
}

const positive = integer(1)
const durability = oneOf(['normal', 'full'])
const logLevel = oneOf(LOG_LEVELS)
const logFormat = oneOf(LOG_FORMATS)
const positiveMs = integer(1, MAX_MS)

/** Every setting of the standalone server. Add a row to add an option. */
export const SETTINGS: readonly Setting[] = [
  setting({
    flag: 'port', env: 'STATESTREAM_PORT', arg: '<n>', default: String(DEFAULT_PORT),
    help: 'port to listen on (0: any free port)',
    parse: integer(0, 65535), set: (c, v) => (c.port = v),
  }),
  setting({
    flag: 'host', env: 'STATESTREAM_HOST', arg: '<addr>', default: '127.0.0.1',
    help: 'address to bind (0.0.0.0: every interface)',
    parse: nonEmpty, set: (c, v) => (c.host = v),
  }),
  setting({
    flag: 'db', env: 'STATESTREAM_DB', arg: '<file>', default: './statestream.db',
    help: 'SQLite database file (one server per file)',
    parse: nonEmpty, set: (c, v) => (c.app.file = v),
  }),
  setting({
    flag: 'store', env: 'STATESTREAM_STORE', arg: '<url>', default: 'none',
    help: 'a postgres:// URL: the streams live in that PostgreSQL database, which any number of servers share (instead of --db)',
    parse: postgresUrl, set: (c, v) => (c.pg.url = v),
  }),
  setting({
    flag: 'pg-schema', env: 'STATESTREAM_PG_SCHEMA', arg: '<name>', default: DEFAULT_PG_SCHEMA,
    help: 'with --store: the schema holding the tables (created if missing; a-z, 0-9 and _, at most 50)',
    parse: pgSchema, set: (c, v) => (c.pg.schema = v),
  }),
  setting({
    flag: 'pg-pool-size', env: 'STATESTREAM_PG_POOL_SIZE', arg: '<n>', default: '10',
    help: 'with --store: most connections to the database',
    parse: integer(2), set: (c, v) => (c.pg.poolSize = v),
  }),
  setting({
    flag: 'pg-query-timeout-ms', env: 'STATESTREAM_PG_QUERY_TIMEOUT_MS', arg: '<ms>', default: String(DEFAULT_PG_QUERY_TIMEOUT_MS),
    help: 'with --store: a statement unanswered this long is given up (503), its connection discarded',
    parse: integer(1, MAX_MS), set: (c, v) => (c.pg.queryTimeoutMs = v),
  }),
  setting({
    flag: 'pg-lock-timeout-ms', env: 'STATESTREAM_PG_LOCK_TIMEOUT_MS', arg: '<ms>', default: String(DEFAULT_PG_LOCK_TIMEOUT_MS),
    help: 'with --store: a write waiting this long for the position lock gives up (503, nothing stored)',
    parse: integer(1, MAX_MS), set: (c, v) => (c.pg.lockTimeoutMs = v),
  }),
  setting({
    flag: 'durability', env: 'STATESTREAM_DURABILITY', arg: '<level>', default: 'normal',
    help: 'normal: writes survive a process crash; full: a power loss too (SQLite only)',
    parse: durability, set: (c, v) => (c.app.durability = v),
  }),
  setting({
    flag: 'body-limit', env: 'STATESTREAM_BODY_LIMIT', arg: '<bytes>', default: String(DEFAULT_BODY_LIMIT),
    help: 'largest request body (413 past it)',
    parse: positive, set: (c, v) => (c.app.bodyLimit = v),
  }),
  setting({
    flag: 'read-chunk-bytes', env: 'STATESTREAM_READ_CHUNK_BYTES', arg: '<bytes>', default: String(1024 * 1024),
    help: 'largest catch-up read of /v1/stream',
    parse: positive, set: (c, v) => (c.app.readChunkBytes = v),
  }),
  setting({
    flag: 'snapshot-entries', env: 'STATESTREAM_SNAPSHOT_ENTRIES', arg: '<n>', default: String(DEFAULT_SNAPSHOT_POLICY.entries),
    help: 'default snapshot policy: a snapshot after this many entries',
    parse: positive, set: (c, v) => (c.app.snapshotPolicy.entries = v),
  }),
  setting({
    flag: 'snapshot-bytes', env: 'STATESTREAM_SNAPSHOT_BYTES', arg: '<bytes>', default: String(DEFAULT_SNAPSHOT_POLICY.bytes),
    help: '... or after this many bytes of mutations',
    parse: positive, set: (c, v) => (c.app.snapshotPolicy.bytes = v),
  }),
  setting({
    flag: 'snapshot-ms', env: 'STATESTREAM_SNAPSHOT_MS', arg: '<ms>', default: String(DEFAULT_SNAPSHOT_POLICY.ms),
    help: '... or after this much stream time, whichever comes first',
    parse: positive, set: (c, v) => (c.app.snapshotPolicy.ms = v),
  }),
  setting({
    flag: 'cache-size', env: 'STATESTREAM_CACHE_SIZE', arg: '<n>', default: '10000',
    help: 'streams whose metadata stays in memory',
    parse: positive, set: (c, v) => (c.app.cacheSize = v),
  }),
  setting({
    flag: 'state-cache-bytes', env: 'STATESTREAM_STATE_CACHE_BYTES', arg: '<bytes>', default: String(128 * 1024 * 1024),
    help: 'budget of the head states held in memory (JSON text)',
    parse: integer(0), set: (c, v) => (c.app.stateCacheBytes = v),
  }),
  setting({
    flag: 'checkpoint-cache-bytes', env: 'STATESTREAM_CHECKPOINT_CACHE_BYTES', arg: '<bytes>', default: String(64 * 1024 * 1024),
    help: 'budget of the states kept inside closed windows for the state at a time (JSON text; 0: none)',
    parse: integer(0), set: (c, v) => (c.app.checkpointBytes = v),
  }),
  setting({
    flag: 'checkpoint-ms', env: 'STATESTREAM_CHECKPOINT_MS', arg: '<ms>', default: String(DEFAULT_CHECKPOINT_MS),
    help: 'a worker thread checkpoints the WAL this often; 0: the writer does it (SQLite only)',
    parse: integer(0, MAX_MS), set: (c, v) => (c.app.checkpointMs = v),
  }),
  setting({
    flag: 'long-poll-timeout-ms', env: 'STATESTREAM_LONG_POLL_TIMEOUT_MS', arg: '<ms>', default: String(LIVE_DEFAULTS.longPollTimeoutMs),
    help: 'a live=long-poll read with no new data answers 204 after this long',
    parse: positiveMs, set: (c, v) => (c.app.longPollTimeoutMs = v),
  }),
  setting({
    flag: 'cors-origins', env: 'STATESTREAM_CORS_ORIGINS', arg: '<origins>', default: '*',
    help: 'origins browsers may call from: * (any), a comma-separated list, or off',
    parse: corsOrigins, set: (c, v) => (c.app.corsOrigins = v),
  }),
  setting({
    flag: 'sse-max-ms', env: 'STATESTREAM_SSE_MAX_MS', arg: '<ms>', default: String(LIVE_DEFAULTS.sseMaxMs),
    help: 'a live=sse response on /v1/stream ends after this long (the client reconnects)',
    parse: positiveMs, set: (c, v) => (c.app.sseMaxMs = v),
  }),
  setting({
    flag: 'heartbeat-ms', env: 'STATESTREAM_HEARTBEAT_MS', arg: '<ms>', default: String(LIVE_DEFAULTS.heartbeatMs),
    help: 'interval of heartbeats on live connections',
    parse: positiveMs, set: (c, v) => (c.app.heartbeatMs = v),
  }),
  setting({
    flag: 'clock-ms', env: 'STATESTREAM_CLOCK_MS', arg: '<ms>', default: String(LIVE_DEFAULTS.clockMs),
    help: 'interval of clock ticks on the multiplexed /v1/live',
    parse: positiveMs, set: (c, v) => (c.app.clockMs = v),
  }),
  setting({
    flag: 'max-buffered-bytes', env: 'STATESTREAM_MAX_BUFFERED_BYTES', arg: '<bytes>', default: String(LIVE_DEFAULTS.maxBufferedBytes),
    help: 'backlog of one live reader (server, Node and kernel buffers) before it is cut with SLOW_READER',
    parse: positive, set: (c, v) => (c.app.maxBufferedBytes = v),
  }),
  setting({
    flag: 'slow-reader-grace-ms', env: 'STATESTREAM_SLOW_READER_GRACE_MS', arg: '<ms>', default: String(LIVE_DEFAULTS.slowReaderGraceMs),
    help: 'a reader cut with SLOW_READER has this long to read it before its socket is closed',
    parse: positiveMs, set: (c, v) => (c.app.slowReaderGraceMs = v),
  }),
  setting({
    flag: 'max-streams-per-connection', env: 'STATESTREAM_MAX_STREAMS_PER_CONNECTION', arg: '<n>', default: String(LIVE_DEFAULTS.maxStreamsPerConnection),
    help: 'streams on one multiplexed /v1/live connection',
    parse: positive, set: (c, v) => (c.app.maxStreamsPerConnection = v),
  }),
  setting({
    flag: 'max-live-connections-per-token', env: 'STATESTREAM_MAX_LIVE_CONNECTIONS_PER_TOKEN', arg: '<n>', default: String(LIVE_DEFAULTS.maxLiveConnectionsPerToken),
    help: 'with access control: live connections one token holds at once',
    parse: positive, set: (c, v) => (c.app.maxLiveConnectionsPerToken = v),
  }),
  setting({
    flag: 'headers-timeout-ms', env: 'STATESTREAM_HEADERS_TIMEOUT_MS', arg: '<ms>', default: String(SERVER_LIMIT_DEFAULTS.headersTimeoutMs),
    help: "most time to receive a request's head (slow clients are cut)",
    parse: positiveMs, set: (c, v) => (c.app.headersTimeoutMs = v),
  }),
  setting({
    flag: 'request-timeout-ms', env: 'STATESTREAM_REQUEST_TIMEOUT_MS', arg: '<ms>', default: String(SERVER_LIMIT_DEFAULTS.requestTimeoutMs),
    help: 'most time to receive a whole request, head and body',
    parse: positiveMs, set: (c, v) => (c.app.requestTimeoutMs = v),
  }),
  setting({
    flag: 'idle-timeout-ms', env: 'STATESTREAM_IDLE_TIMEOUT_MS', arg: '<ms>', default: String(SERVER_LIMIT_DEFAULTS.idleTimeoutMs),
    help: 'a connection with no traffic for this long is closed',
    parse: positiveMs, set: (c, v) => (c.app.idleTimeoutMs = v),
  }),
  setting({
    flag: 'keep-alive-timeout-ms', env: 'STATESTREAM_KEEP_ALIVE_TIMEOUT_MS', arg: '<ms>', default: String(SERVER_LIMIT_DEFAULTS.keepAliveTimeoutMs),
    help: 'an idle keep-alive connection is closed after this long',
    parse: positiveMs, set: (c, v) => (c.app.keepAliveTimeoutMs = v),
  }),
  setting({
    flag: 'max-connections-per-address', env: 'STATESTREAM_MAX_CONNECTIONS_PER_ADDRESS', arg: '<n>', default: String(SERVER_LIMIT_DEFAULTS.maxConnectionsPerAddress),
    help: 'open connections from one client address; 0: no cap',
    parse: integer(0), set: (c, v) => (c.app.maxConnectionsPerAddress = v),
  }),
  setting({
    flag: 'inspector', env: 'STATESTREAM_INSPECTOR', arg: '<on|off>', default: 'on',
    help: 'serve the web timeline inspector at /inspector/',
    parse: oneOf(['on', 'off']), set: (c, v) => (c.app.inspector = v === 'on' ? {} : false),
  }),
  setting({
    flag: 'auth-secret', env: 'STATESTREAM_AUTH_SECRET', arg: '<secret>', default: 'off',
    help: 'access control: bearer JWTs signed HS256 with this secret, 32 bytes or more (prefer the variable: flags show in ps)',
    parse: nonEmpty, set: (c, v) => (c.auth.secret = v),
  }),
  setting({
    flag: 'auth-public-key-file', env: 'STATESTREAM_AUTH_PUBLIC_KEY_FILE', arg: '<file>', default: 'off',
    help: 'access control: bearer JWTs signed EdDSA or RS256, checked with this PEM public key (Ed25519 or RSA)',
    parse: nonEmpty, set: (c, v) => (c.auth.publicKeyFile = v),
  }),
  setting({
    flag: 'auth-jwks-file', env: 'STATESTREAM_AUTH_JWKS_FILE', arg: '<file>', default: 'off',
    help: "access control: bearer JWTs checked with the key of this JWKS file that the token's kid names",
    parse: nonEmpty, set: (c, v) => (c.auth.jwksFile = v),
  }),
  setting({
    flag: 'auth-issuer', env: 'STATESTREAM_AUTH_ISSUER', arg: '<iss>', default: 'any',
    help: "with access control: a token's iss claim must be this",
    parse: nonEmpty, set: (c, v) => (c.auth.issuer = v),
  }),
  setting({
    flag: 'auth-audience', env: 'STATESTREAM_AUTH_AUDIENCE', arg: '<aud>', default: 'any',
    help: "with access control: a token's aud claim must hold this",
    parse: nonEmpty, set: (c, v) => (c.auth.audience = v),
  }),
  setting({
    flag: 'rate-limit', env: 'STATESTREAM_RATE_LIMIT', arg: '<n>', default: '0',
    help: 'most requests per window from one token (or, without access control, one address); 0: no limit',
    parse: integer(0), set: (c, v) => (c.rateLimit.max = v),
  }),
  setting({
    flag: 'rate-limit-window-ms', env: 'STATESTREAM_RATE_LIMIT_WINDOW_MS', arg: '<ms>', default: String(RATE_WINDOW_MS),
    help: 'the window of --rate-limit',
    parse: positiveMs, set: (c, v) => (c.rateLimit.timeWindowMs = v),
  }),
  setting({
    flag: 'log-level', env: 'STATESTREAM_LOG_LEVEL', arg: '<level>', default: 'info',
    help: LOG_LEVELS.join('|'),
    parse: logLevel, set: (c, v) => (c.logLevel = v),
  }),
  setting({
    flag: 'log-format', env: 'STATESTREAM_LOG_FORMAT', arg: '<format>', default: 'auto',
    help: 'auto: human-readable on a terminal, JSON lines otherwise; pretty; json',
    parse: logFormat, set: (c, v) => (c.logFormat = v),
  }),
]

/** What the command line asks for. */
export type Command = { kind: 'help' } | { kind: 'version' } | { kind: 'serve'; config: ServerConfig }

/** Reads the command line and the environment; throws a `ConfigError` for anything wrong. */
export function readConfig(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  // `npm start -- --port 1` passes the separator on; it means nothing here.
  const args = argv[0] === '--' ? argv.slice(1) : [...argv]
  let values: Record<string, string | boolean | undefined>
  try {
    values = parseArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        ...Object.fromEntries(SETTINGS.map((row) => [row.flag, { type: 'string' as const }])),
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
    }).values
  } catch (error) {
    throw new ConfigError(argumentProblem(error as Error & { code?: string }))
  }
  if (values.help === true) return { kind: 'help' }
  if (values.version === true) return { kind: 'version' }
  const config: ServerConfig = {
    port: DEFAULT_PORT,
    host: '127.0.0.1',
    logLevel: 'info',
    logFormat: 'auto',
    app: { file: './statestream.db', snapshotPolicy: {} },
    auth: {},
    rateLimit: { max: 0, timeWindowMs: RATE_WINDOW_MS },
    sources: {},
    pg: {},
  }
  for (const row of SETTINGS) {
    const flag = values[row.flag]
    const fromEnv = env[row.env]
    const [source, text] = typeof flag === 'string' ? [`--${row.flag}`, flag] : fromEnv !== undefined && fromEnv !== '' ? [row.env, fromEnv] : [undefined, undefined]
    if (source === undefined || text === undefined) continue
    config.sources[row.flag] = source
    try {
      row.apply(text, config)
    } catch (error) {
      throw new ConfigError(`${source} ${(error as Error).message}`)
    }
  }
  if (config.rateLimit.max > 0) config.app.rateLimit = { ...config.rateLimit }
  const { url, ...pg } = config.pg
  if (url !== undefined) config.app.postgres = { url, ...pg }
  refuseUnused(config.sources)
  return { kind: 'serve', config }
}

/** The flags that apply to a PostgreSQL store only. */
const PG_FLAGS = SETTINGS.map((row) => row.flag).filter((flag) => flag.startsWith('pg-'))

/** The flags that apply to an SQLite store only (its file's durability and checkpoints). */
const SQLITE_FLAGS = ['durability', 'checkpoint-ms']

/** Refuses settings that would be ignored: SQLite settings or a file beside a database, PostgreSQL settings without one. */
function refuseUnused(sources: Readonly<Record<string, string>>): void {
  const { db, store } = sources
  const sqlite = SQLITE_FLAGS.flatMap((flag) => (sources[flag] === undefined ? [] : [sources[flag]]))
  if (store !== undefined && sqlite.length > 0) {
    throw new ConfigError(
      `${sqlite.join(' and ')} ${sqlite.length === 1 ? 'applies' : 'apply'} only to an SQLite store, not with ${store} (PostgreSQL's own settings, such as synchronous_commit, decide its durability)`,
    )
  }
  if (db !== undefined && store !== undefined) {
    throw new ConfigError(`${db} and ${store} both name the store: ${db} an SQLite file, ${store} a PostgreSQL database; give one of them`)
  }
  const pg = PG_FLAGS.flatMap((flag) => (sources[flag] === undefined ? [] : [sources[flag]]))
  if (store === undefined && pg.length > 0) {
    // Named the way the user gave the others: flags, or variables.
    const storeBy = pg.every((source) => source.startsWith('--')) ? '--store' : 'STATESTREAM_STORE'
    throw new ConfigError(`${pg.join(' and ')} ${pg.length === 1 ? 'applies' : 'apply'} only to a PostgreSQL store: set ${storeBy} to a postgres:// URL too`)
  }
}

/** The usage text, from the table. */
export function usage(program = 'statestream-server'): string {
  const lines = SETTINGS.map((row) => {
    const left = `  --${row.flag} ${row.arg} `
    return `${left.padEnd(38)}${row.help}\n${' '.repeat(38)}(${row.env}, default ${row.default})`
  })
  return [
    'statestream-server: a history server for remote state streams',
    '',
    `Usage: ${program} [options]`,
    '',
    ...lines,
    `${'  -h, --help'.padEnd(38)}this text`,
    `${'  -v, --version'.padEnd(38)}the version`,
    '',
    'A flag wins over its environment variable. Exit codes: 0 after a clean shutdown,',
    '2 for a configuration or database the server refuses, 1 for any other failure.',
    '',
  ].join('\n')
}

/** One line for what `parseArgs` refused. */
function argumentProblem(error: Error & { code?: string }): string {
  const option = /'(?:-\w, )?(-{1,2}[^' ,]+)/.exec(error.message)?.[1]
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown flag ${option ?? ''} (--help lists them)`.replace('  ', ' ')
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      if (error.message.includes('does not take')) return `${option ?? 'a flag'} takes no value`
      if (error.message.includes('ambiguous')) return `${option ?? 'a flag'} needs a value (write ${option ?? '--flag'}=-1 for one that starts with "-")`
      return `${option ?? 'a flag'} needs a value`
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL': {
      const positional = /argument '([^']*)'/.exec(error.message)?.[1] ?? ''
      return `unexpected argument ${quote(positional)}: every option is a flag with a value, like --port 4437`
    }
    default:
      return error.message
  }
}
