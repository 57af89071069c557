/**
 * The standalone server, `statestream-server` (and `pnpm start`, and `statestream serve`): its bin
 * calls `runServer` with the process's arguments and environment. The only module that reads
 * `process`: the terminal, signals and the exit code.
 *
 * Its options are the table of `config.ts` (`--help` prints it). Starting either works or ends
 * with one line on stderr that names the flag or variable at fault, and exit code 2; nothing else
 * exits before a clean shutdown but a failure nobody foresaw (exit 1, still one line).
 */
import { readFileSync } from 'node:fs'
import type { FastifyServerOptions } from 'fastify'
import { buildApp } from './app.ts'
import { authFromConfig } from './auth/token-verifier.ts'
import { AUTH_KEY_FLAGS, ConfigError, SETTINGS, readConfig, usage } from './config.ts'
import type { ServerConfig } from './config.ts'
import { REQUEST_LOG_FIELDS } from './request-log.ts'
import { PostgresStoreError } from './postgres/pg-engine.ts'
import { redact } from './postgres/pg-options.ts'
import { StoreFileError } from './store-file.ts'

/** How long a shutdown may take before the process gives up on it. */
const SHUTDOWN_LIMIT_MS = 15_000

/** Prints one line, `<program>: <message>`, and exits: 2 for what the user can fix (configuration, the database), else 1. */
function failing(program: string): (message: string, code?: 1 | 2) => never {
  return (message, code = 2) => {
    process.stderr.write(`${program}: ${message}\n`)
    process.exit(code)
  }
}

/** `message`, prefixed by the flag or variable that set `flag` when the user set it. */
function blame(config: ServerConfig, flag: string, message: string): string {
  const given = config.sources[flag]
  return given === undefined ? message : `${given}: ${message}`
}

/** `message` with the app's option names (`idleTimeoutMs`) written as the user gave them (`--idle-timeout-ms`, or its variable). */
function asGiven(config: ServerConfig, message: string): string {
  return message.replace(/\b[a-z]+(?:[A-Z][a-z]*)+\b/g, (option) => {
    const flag = option.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)
    if (!SETTINGS.some((row) => row.flag === flag)) return option
    return config.sources[flag] ?? `--${flag}`
  })
}

function version(): string {
  const manifest = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
  return manifest.version
}

/** Pino options: human-readable lines on a terminal (or when asked), JSON lines otherwise. */
async function logger(config: ServerConfig): Promise<FastifyServerOptions['logger']> {
  const pretty = config.logFormat === 'pretty' || (config.logFormat === 'auto' && process.stdout.isTTY === true)
  if (!pretty) return { level: config.logLevel }
  // Loaded only for a terminal: JSON logging does not pay for it.
  const { default: pinoPretty } = await import('pino-pretty')
  const stream = pinoPretty({
    colorize: process.stdout.isTTY === true,
    translateTime: 'SYS:HH:MM:ss.l',
    // A request line says it all in its message; its fields are for machines.
    ignore: ['pid', 'hostname', 'reqId', ...REQUEST_LOG_FIELDS].join(','),
    singleLine: true,
    sync: true,
  })
  return { level: config.logLevel, stream }
}

/**
 * Runs the standalone server on `argv` (the arguments after the command) and `env`, as
 * `statestream-server` and `statestream serve` do: it listens until SIGINT or SIGTERM, then shuts
 * down and exits the process; `--help`, `--version` and every refusal exit it too.
 */
export async function runServer(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  /** How the user ran it, for `--help` and `--version`: `statestream-server` or `statestream serve`. */
  program = 'statestream-server',
): Promise<void> {
  const fail: (message: string, code?: 1 | 2) => never = failing(program)
  let command
  try {
    command = readConfig(argv, env)
  } catch (error) {
    if (error instanceof ConfigError) fail(error.message)
    throw error
  }
  if (command.kind === 'help') {
    process.stdout.write(usage(program))
    process.exit(0)
  }
  if (command.kind === 'version') {
    process.stdout.write(`${program} ${version()}\n`)
    process.exit(0)
  }
  const config = command.config

  // Access control: the key files are read here, and a bad one is one line naming its flag.
  let auth
  try {
    auth = authFromConfig(config.auth)
  } catch (error) {
    const given = AUTH_KEY_FLAGS.filter((flag) => config.sources[flag] !== undefined).map((flag) => config.sources[flag])
    fail(`${given.join(', ')}: ${(error as Error).message}`)
  }

  let app: Awaited<ReturnType<typeof buildApp>>
  try {
    app = await buildApp({ ...config.app, ...(auth !== undefined && { auth }), logger: await logger(config) })
  } catch (error) {
    if (error instanceof StoreFileError) fail(blame(config, 'db', error.message))
    if (error instanceof PostgresStoreError) fail(blame(config, 'store', error.message))
    // Settings valid alone that the app refuses together (an idle timeout no longer than the heartbeat).
    if (error instanceof RangeError) fail(asGiven(config, error.message))
    fail(`could not start: ${(error as Error).message}`, 1)
  }

  let closing = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      // A terminal's Ctrl-C reaches both a wrapper (pnpm) and this process, which then gets the
      // signal twice: one shutdown is under way, the second changes nothing.
      if (closing) return
      closing = true
      app.log.info({ signal }, 'shutting down')
      setTimeout(() => fail(`shutdown took longer than ${SHUTDOWN_LIMIT_MS / 1000} s; exiting without it`, 1), SHUTDOWN_LIMIT_MS).unref()
      // Ends live connections, finishes queued writes and closes the database.
      app.close().then(
        () => process.exit(0),
        (error: unknown) => fail(`shutdown failed: ${(error as Error).message}`, 1),
      )
    })
  }

  let address: string
  try {
    address = await app.listen({ port: config.port, host: config.host })
  } catch (error) {
    const code = (error as { code?: unknown }).code
    const where = `${config.host}:${config.port}`
    await app.close().catch(() => {})
    if (code === 'EADDRINUSE') fail(blame(config, 'port', `${where} is already in use`))
    if (code === 'EACCES') fail(blame(config, 'port', `not allowed to listen on ${where}`))
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND' || code === 'EAI_AGAIN') fail(blame(config, 'host', `cannot listen on ${where}: no such local address`))
    fail(`could not listen on ${where}: ${(error as Error).message}`, 1)
  }
  const postgres = config.app.postgres
  const where = postgres === undefined ? { db: config.app.file, durability: config.app.durability ?? 'normal' } : { store: redact(postgres.url), schema: postgres.schema ?? 'public' }
  app.log.info({ ...where, auth: auth !== undefined }, `statestream ready at ${address}`)
}
