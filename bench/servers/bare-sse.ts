/**
 * The floor of live latency and per-connection memory: a bare Node `http` server with no storage.
 * `GET /sse` opens an event stream; `POST /append` sends its body to every open stream as one
 * `data:` event and answers 204. Nothing is parsed, stored or validated. The appends that arrive
 * in one turn of the event loop go out together, one write per reader (as statestream writes
 * the entries of one commit): under a short CPU a floor that wrote each append to every reader
 * alone would fall behind and stop being a floor.
 *
 * With `windowBytes` (an argument), each stream opens with one `data:` event of that many bytes,
 * rendered once and written to each reader in one go, as a window would be: the floor of what a
 * burst of connecting readers costs (`stalled-readers.ts`). Its admin channel also answers `lag`
 * (the longest its event loop was held up since the last `lag`, ms).
 */
import { createServer } from 'node:http'
import type { ServerResponse } from 'node:http'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { childArgs, memory, serve } from '../lib/proc.ts'

const { windowBytes = 0 } = childArgs<{ windowBytes?: number }>()
const opening = Buffer.from(`: open\n\n${windowBytes > 0 ? `data: ${'x'.repeat(windowBytes)}\n\n` : ''}`)

const readers = new Set<ServerResponse>()
/** Events of this turn of the event loop, not yet written. */
let pending: Buffer[] = []

function flush(): void {
  const events = Buffer.concat(pending)
  pending = []
  for (const reader of readers) reader.write(events)
}

const server = createServer((request, response) => {
  if (request.method === 'GET' && request.url === '/sse') {
    // `connection: close` spares the chunked framing (the body ends when the socket does): each
    // event is then one plain write of bytes rendered once, the least a server can do per reader.
    response.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'close' })
    response.write(opening)
    readers.add(response)
    request.on('close', () => readers.delete(response))
    return
  }
  if (request.method === 'POST' && request.url === '/append') {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      pending.push(Buffer.from('data: '), ...chunks, Buffer.from('\n\n'))
      if (pending.length === 2 + chunks.length) setImmediate(flush)
      response.writeHead(204).end()
    })
    return
  }
  response.writeHead(404).end()
})
server.keepAliveTimeout = 60_000
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
const address = server.address()
const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`

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
})
