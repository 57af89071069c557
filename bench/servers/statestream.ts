/**
 * A statestream server in its own process, as a user would run it: `buildApp()` on an SQLite file,
 * listening on 127.0.0.1 port 0. Its admin channel (IPC) answers `ready` (url, pid) and `memory`.
 */
import { buildApp } from '@statestream/server'
import { childArgs, memory, serve } from '../lib/proc.ts'

const args = childArgs<{ file: string; durability?: 'normal' | 'full' }>()
const app = await buildApp({ file: args.file, durability: args.durability ?? 'normal', logger: false })
const url = await app.listen({ port: 0, host: '127.0.0.1' })

serve({
  ready: () => ({ url, pid: process.pid }),
  memory: () => memory(),
  close: async () => {
    await app.close()
    return true
  },
})
