/**
 * The standalone server, `statestream-server` (and `pnpm start`). The only module that reads
 * `process`: flags, environment and signals.
 *
 *   statestream-server [--port 4437] [--host 127.0.0.1] [--db ./statestream.db] [--durability normal|full]
 *
 * Each flag has an environment equivalent: STATESTREAM_PORT, STATESTREAM_HOST, STATESTREAM_DB,
 * STATESTREAM_DURABILITY, STATESTREAM_BODY_LIMIT, STATESTREAM_CHECKPOINT_MS, STATESTREAM_LOG_LEVEL.
 */
import { parseArgs } from 'node:util'
import { DEFAULT_BODY_LIMIT, DEFAULT_PORT } from '@statestream/common'
import { buildApp } from './app.ts'

const USAGE = `statestream-server: a history server for remote state streams

  --port <n>            port to listen on (STATESTREAM_PORT, default ${DEFAULT_PORT})
  --host <addr>         address to bind (STATESTREAM_HOST, default 127.0.0.1)
  --db <file>           SQLite database file (STATESTREAM_DB, default ./statestream.db)
  --durability <level>  normal: survives a process crash; full: survives power loss
                        (STATESTREAM_DURABILITY, default normal)
  --body-limit <bytes>  largest request body (STATESTREAM_BODY_LIMIT, default ${DEFAULT_BODY_LIMIT})
  --checkpoint-ms <ms>  a worker thread checkpoints the WAL this often; 0: the writer does it
                        (STATESTREAM_CHECKPOINT_MS, default 20)
  --log-level <level>   fatal|error|warn|info|debug (STATESTREAM_LOG_LEVEL, default info)
  --help                this text
`

function fail(message: string): never {
  process.stderr.write(`statestream-server: ${message}\n\n${USAGE}`)
  process.exit(2)
}

function integer(value: string, name: string): number {
  if (!/^\d+$/.test(value)) fail(`${name} must be a non-negative integer, got "${value}"`)
  return Number(value)
}

let args
try {
  args = parseArgs({
    options: {
      port: { type: 'string' },
      host: { type: 'string' },
      db: { type: 'string' },
      durability: { type: 'string' },
      'body-limit': { type: 'string' },
      'checkpoint-ms': { type: 'string' },
      'log-level': { type: 'string' },
      help: { type: 'boolean' },
    },
  }).values
} catch (error) {
  fail((error as Error).message)
}
if (args.help) {
  process.stdout.write(USAGE)
  process.exit(0)
}

const env = process.env
const port = integer(args.port ?? env.STATESTREAM_PORT ?? String(DEFAULT_PORT), '--port')
const host = args.host ?? env.STATESTREAM_HOST ?? '127.0.0.1'
const file = args.db ?? env.STATESTREAM_DB ?? './statestream.db'
const durability = args.durability ?? env.STATESTREAM_DURABILITY ?? 'normal'
if (durability !== 'normal' && durability !== 'full') fail(`--durability must be "normal" or "full", got "${durability}"`)
const bodyLimit = args['body-limit'] ?? env.STATESTREAM_BODY_LIMIT
const checkpointMs = args['checkpoint-ms'] ?? env.STATESTREAM_CHECKPOINT_MS
const level = args['log-level'] ?? env.STATESTREAM_LOG_LEVEL ?? 'info'

const app = await buildApp({
  file,
  durability,
  ...(bodyLimit !== undefined && { bodyLimit: integer(bodyLimit, '--body-limit') }),
  ...(checkpointMs !== undefined && { checkpointMs: integer(checkpointMs, '--checkpoint-ms') }),
  logger: { level },
})

let closing = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (closing) return
    closing = true
    app.log.info({ signal }, 'shutting down')
    // Ends live connections, finishes queued writes and closes the database.
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'shutdown failed')
        process.exit(1)
      },
    )
  })
}

try {
  await app.listen({ port, host })
  app.log.info({ db: file, durability }, 'statestream ready')
} catch (error) {
  app.log.error({ err: error }, 'could not start')
  process.exit(1)
}
