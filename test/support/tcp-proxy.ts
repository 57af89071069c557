/**
 * A fault-injecting TCP proxy for tests: clients connect to it, it connects each to the target
 * and forwards bytes both ways — unless told to cut connections (a reset, as a dropped network
 * does), stall them (bytes held back: the silent dead connection only a watchdog notices), delay
 * them, or cut a connection at a chosen moment of its response.
 */
import net from 'node:net'

/** Decides, per chunk the server sends, whether to cut that connection instead of forwarding. */
export type CutRule = (info: { connection: number; bytesFromServer: number; chunk: Buffer }) => boolean

interface Pair {
  id: number
  client: net.Socket
  upstream: net.Socket
  /** Bytes the server sent on this connection so far. */
  fromServer: number
  /** Chunks held back while stalled, with their direction. */
  held: Array<{ to: net.Socket; chunk: Buffer }>
  /** Serialises delayed writes so a delay never reorders bytes. */
  queue: Promise<void>
}

/** A running proxy. */
export interface TcpProxy {
  /** `http://127.0.0.1:<port>` of the proxy. */
  url: string
  /** Connections accepted so far. */
  readonly opened: number
  /** Connections open now. */
  readonly open: number
  /** Connections cut so far (by `cut`, `cutWhen` or `cutNextResponse`). */
  readonly cuts: number
  /** Bytes forwarded from the server to clients. */
  readonly bytesFromServer: number
  /** Resets every open connection. */
  cut(): void
  /** Holds back every byte, both ways, until `resume()`. */
  stall(): void
  /** Forwards what was held back and carries on. */
  resume(): void
  /** Delays every forwarded chunk by `ms` (0 to stop). */
  delay(ms: number): void
  /** Cuts a connection instead of forwarding a server chunk whenever `rule` says so (`undefined` to stop). */
  cutWhen(rule: CutRule | undefined): void
  /** Cuts the connection that carries the next response, before any of it reaches the client. */
  cutNextResponse(): void
  /** Lets exactly `bytes` bytes of the next response through (its head included), then cuts that connection. */
  truncateNextResponse(bytes: number): void
  close(): Promise<void>
}

/** Starts a proxy on 127.0.0.1 (port 0) to `target`. */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const pairs = new Set<Pair>()
  let opened = 0
  let cuts = 0
  let bytesFromServer = 0
  let stalled = false
  let delayMs = 0
  let rule: CutRule | undefined
  let cutResponses = 0
  /** Bytes still to let through before cutting the connection that answers next. */
  let truncate: { pair: Pair | undefined; left: number } | undefined

  const destroy = (pair: Pair): void => {
    pairs.delete(pair)
    pair.client.resetAndDestroy()
    pair.upstream.resetAndDestroy()
  }
  const cutPair = (pair: Pair): void => {
    if (!pairs.has(pair)) return
    cuts += 1
    destroy(pair)
  }
  const forward = (pair: Pair, to: net.Socket, chunk: Buffer): void => {
    if (stalled) {
      pair.held.push({ to, chunk })
      return
    }
    if (delayMs === 0) {
      if (!to.destroyed) to.write(chunk)
      return
    }
    const wait = delayMs
    pair.queue = pair.queue.then(
      () =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            if (!to.destroyed) to.write(chunk)
            resolve()
          }, wait),
        ),
    )
  }

  const server = net.createServer((client) => {
    opened += 1
    const upstream = net.connect(target.port, target.host)
    const pair: Pair = { id: opened, client, upstream, fromServer: 0, held: [], queue: Promise.resolve() }
    pairs.add(pair)
    client.on('data', (chunk: Buffer) => forward(pair, upstream, chunk))
    upstream.on('data', (chunk: Buffer) => {
      if (truncate !== undefined && (truncate.pair === undefined || truncate.pair === pair)) {
        truncate.pair = pair
        const part = chunk.subarray(0, truncate.left)
        truncate.left -= part.length
        pair.fromServer += part.length
        bytesFromServer += part.length
        if (truncate.left > 0) {
          client.write(part)
          return
        }
        truncate = undefined
        // Cut once the part is on its way, so the client gets exactly that much.
        client.write(part, () => cutPair(pair))
        return
      }
      if (cutResponses > 0) {
        cutResponses -= 1
        cutPair(pair)
        return
      }
      if (rule?.({ connection: pair.id, bytesFromServer: pair.fromServer, chunk })) {
        cutPair(pair)
        return
      }
      pair.fromServer += chunk.length
      bytesFromServer += chunk.length
      forward(pair, client, chunk)
    })
    const end = (): void => {
      if (pairs.has(pair)) destroy(pair)
    }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as net.AddressInfo).port

  return {
    url: `http://127.0.0.1:${port}`,
    get opened() {
      return opened
    },
    get open() {
      return pairs.size
    },
    get cuts() {
      return cuts
    },
    get bytesFromServer() {
      return bytesFromServer
    },
    cut() {
      for (const pair of [...pairs]) cutPair(pair)
    },
    stall() {
      stalled = true
    },
    resume() {
      stalled = false
      for (const pair of pairs) {
        for (const { to, chunk } of pair.held.splice(0)) forward(pair, to, chunk)
      }
    },
    delay(ms) {
      delayMs = ms
    },
    cutWhen(next) {
      rule = next
    },
    cutNextResponse() {
      cutResponses += 1
    },
    truncateNextResponse(bytes) {
      truncate = { pair: undefined, left: bytes }
    },
    async close() {
      for (const pair of [...pairs]) destroy(pair)
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
