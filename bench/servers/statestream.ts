/**
 * A statestream server in its own process, as a user would run it: `buildApp()` on an SQLite file,
 * or on a PostgreSQL database (`postgres`: its URL and schema; several such processes on one
 * schema are replicas), listening on 127.0.0.1 port 0. Its admin channel (IPC) answers `ready`
 * (url, pid), `memory` and `lag` (the longest its event loop was held up since the last `lag`, ms).
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { buildApp } from '@statestream/server'
import { childArgs, memory, serve } from '../lib/proc.ts'

const args = childArgs<{ file?: string; durability?: 'normal' | 'full'; postgres?: { url: string; schema: string } }>()
const app = await buildApp({
  ...(args.postgres === undefined ? { file: args.file ?? ':memory:', durability: args.durability ?? 'normal' } : { postgres: args.postgres }),
  logger: false,
})
const url = await app.listen({ port: 0, host: '127.0.0.1' })

const delay = monitorEventLoopDelay({ resolution: 1 })
delay.enable()

serve({
  ready: () => ({ url, pid: process.pid }),
  memory: () => memory(),
  lag: () => {
    const ms = delay.max / 1e6
    delay.reset()
    return ms
  },
  close: async () => {
    await app.close()
    return true
  },
})
