/**
 * The Durable Streams reference server (`@durable-streams/server`) in its own process, file-backed
 * (`dataDir`: log files plus LMDB metadata), on 127.0.0.1 port 0.
 */
import { DurableStreamTestServer } from '@durable-streams/server'
import { childArgs, memory, serve } from '../lib/proc.ts'

const args = childArgs<{ dataDir: string }>()
// Its store logs slow operations with console.info; keep the run's output to our table.
console.info = () => {}
console.log = () => {}
const server = new DurableStreamTestServer({ port: 0, host: '127.0.0.1', dataDir: args.dataDir })
const url = await server.start()

serve({
  ready: () => ({ url, pid: process.pid }),
  memory: () => memory(),
  close: async () => {
    await server.stop()
    return true
  },
})
