/**
 * A small caching reverse proxy, as a CDN in front of the replicas: it forwards requests to its
 * origins in turn, keeps every `200` whose `Cache-Control` is `public` with a `max-age`, and
 * answers later requests for the same URL from what it keeps. Concurrent misses of one URL wait
 * for the first one's answer instead of each going to an origin (request collapsing, as CDNs
 * do); an answer that turns out not to be cacheable sends each of them on to an origin. It
 * counts what reached the origins, by URL.
 */
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { request } from 'undici'

/** An answer kept for its URL. */
interface Kept {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** A running proxy. */
export interface CachingProxy {
  url: string
  /** Requests that reached an origin, by URL (path and query). */
  readonly origin: ReadonlyMap<string, number>
  /** Requests the proxy answered from what it keeps. */
  readonly hits: number
  close(): Promise<void>
}

/** Response headers that belong to one connection, never to a kept answer. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length'])

/** True when `cacheControl` lets a shared cache keep the answer. */
function cacheable(cacheControl: string | undefined): boolean {
  if (cacheControl === undefined) return false
  const directives = cacheControl.split(',').map((part) => part.trim().toLowerCase())
  if (directives.includes('no-store') || directives.includes('private')) return false
  return directives.includes('public') && directives.some((part) => /^max-age=[1-9]/.test(part))
}

/** Starts a proxy on 127.0.0.1 (port 0) in front of `origins` (base URLs). */
export async function startCachingProxy(origins: readonly string[]): Promise<CachingProxy> {
  const kept = new Map<string, Kept>()
  /** URLs being fetched: resolves with the kept answer, or `undefined` when it is not cacheable. */
  const fetching = new Map<string, Promise<Kept | undefined>>()
  const counts = new Map<string, number>()
  let next = 0
  let hits = 0

  /** Sends `incoming` on to the next origin and streams the answer back; keeps it when cacheable. */
  const forward = async (incoming: http.IncomingMessage, outgoing: http.ServerResponse, key: string, keep?: (answer: Kept | undefined) => void): Promise<void> => {
    const origin = origins[next % origins.length] as string
    next += 1
    counts.set(key, (counts.get(key) ?? 0) + 1)
    const headers = { ...incoming.headers }
    delete headers.host
    delete headers.connection
    const chunks: Buffer[] = []
    for await (const chunk of incoming) chunks.push(chunk as Buffer)
    const response = await request(`${origin}${key}`, {
      method: incoming.method as 'GET',
      headers,
      ...(chunks.length > 0 && { body: Buffer.concat(chunks) }),
    })
    const out: Record<string, string> = {}
    for (const [name, value] of Object.entries(response.headers)) {
      if (value !== undefined && !HOP_BY_HOP.has(name)) out[name] = Array.isArray(value) ? value.join(', ') : value
    }
    const control = response.headers['cache-control']
    if (keep !== undefined && response.statusCode === 200 && cacheable(Array.isArray(control) ? control.join(', ') : control)) {
      const body = Buffer.from(await response.body.arrayBuffer())
      const answer = { status: response.statusCode, headers: out, body }
      kept.set(key, answer)
      keep(answer)
      send(outgoing, answer)
      return
    }
    keep?.(undefined)
    outgoing.writeHead(response.statusCode, out)
    response.body.pipe(outgoing)
  }

  const server = http.createServer((incoming, outgoing) => {
    const key = incoming.url ?? '/'
    const fail = (error: unknown): void => {
      if (!outgoing.headersSent) outgoing.writeHead(502, { 'content-type': 'text/plain' })
      outgoing.end(`bad gateway: ${String(error)}`)
    }
    if (incoming.method !== 'GET') {
      forward(incoming, outgoing, key).catch(fail)
      return
    }
    const found = kept.get(key)
    if (found !== undefined) {
      hits += 1
      send(outgoing, found)
      return
    }
    const pending = fetching.get(key)
    if (pending !== undefined) {
      pending.then((answer) => {
        if (answer === undefined) return forward(incoming, outgoing, key)
        hits += 1
        send(outgoing, answer)
      }).catch(fail)
      return
    }
    let settle: (answer: Kept | undefined) => void = () => {}
    fetching.set(key, new Promise((resolve) => (settle = resolve)))
    const keep = (answer: Kept | undefined): void => {
      fetching.delete(key)
      settle(answer)
    }
    forward(incoming, outgoing, key, keep).catch((error: unknown) => {
      keep(undefined)
      fail(error)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    origin: counts,
    get hits() {
      return hits
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

function send(outgoing: http.ServerResponse, answer: Kept): void {
  outgoing.writeHead(answer.status, { ...answer.headers, 'content-length': String(answer.body.length) })
  outgoing.end(answer.body)
}
