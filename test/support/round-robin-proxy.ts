/**
 * A round-robin TCP load balancer for the replica tests: each connection a client opens goes to
 * the next backend in turn; a backend that refuses the connection (it died) is skipped for the
 * next one, as a load balancer's failed connect does. Connections to a backend that dies are
 * reset, so its clients see a dropped network and reconnect (through the proxy, to another).
 */
import net from 'node:net'

/** A backend, as `host:port`. */
export interface Backend {
  host: string
  port: number
}

/** A running balancer. */
export interface RoundRobinProxy {
  /** `http://127.0.0.1:<port>` of the balancer. */
  url: string
  /** Connections handed to each backend so far, by its index. */
  readonly served: readonly number[]
  /** Connections open to each backend now, by its index. */
  readonly open: readonly number[]
  close(): Promise<void>
}

/** The backend of `url` (`http://host:port`). */
export function backendOf(url: string): Backend {
  const parsed = new URL(url)
  return { host: parsed.hostname, port: Number(parsed.port) }
}

/** Starts a balancer on 127.0.0.1 (port 0) over `backends`. */
export async function startRoundRobinProxy(backends: readonly Backend[]): Promise<RoundRobinProxy> {
  const sockets = new Set<net.Socket>()
  const served = backends.map(() => 0)
  const open = backends.map(() => 0)
  let next = 0

  /** Connects to the next backend that accepts, trying each once; `undefined` when none does. */
  const connect = async (): Promise<{ socket: net.Socket; index: number } | undefined> => {
    for (let tried = 0; tried < backends.length; tried++) {
      const index = next
      next = (next + 1) % backends.length
      const backend = backends[index] as Backend
      const socket = await new Promise<net.Socket | undefined>((resolve) => {
        const upstream = net.connect(backend.port, backend.host)
        upstream.once('connect', () => resolve(upstream))
        upstream.once('error', () => resolve(undefined))
      })
      if (socket !== undefined) return { socket, index }
    }
    return undefined
  }

  const server = net.createServer((client) => {
    sockets.add(client)
    client.once('close', () => sockets.delete(client))
    client.on('error', () => {})
    client.pause()
    void connect().then((found) => {
      if (found === undefined || client.destroyed) {
        client.resetAndDestroy()
        found?.socket.destroy()
        return
      }
      const upstream = found.socket
      served[found.index] = (served[found.index] ?? 0) + 1
      open[found.index] = (open[found.index] ?? 0) + 1
      sockets.add(upstream)
      upstream.once('close', () => {
        sockets.delete(upstream)
        open[found.index] = (open[found.index] ?? 0) - 1
      })
      // The backend went away (killed): the client's connection is reset, as a balancer does. A
      // clean close by the backend ends the client's connection cleanly (the pipe ends it).
      upstream.on('error', () => {
        if (!client.destroyed) client.resetAndDestroy()
      })
      client.once('close', () => upstream.destroy())
      client.pipe(upstream)
      upstream.pipe(client)
      client.resume()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    served,
    open,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}
