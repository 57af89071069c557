/**
 * The client tests' fixture: a real server on 127.0.0.1 (port 0) that counts what it serves —
 * requests per route, response bytes, and every entry a window answer carried (so a test can say
 * "no entry was sent twice") — plus a client and an optional fault-injecting proxy in front of
 * the server. Everything is closed after the test.
 */
import type { Json } from '@statestream/common'
import { StateStreamClient } from '@statestream/client'
import type { StateStreamClientOptions, TraceEvent } from '@statestream/client'
import { buildApp } from '@statestream/server'
import type { AppOptions } from '@statestream/server'
import type { ServerResponse } from 'node:http'
import { engineTest } from './engine-test.ts'
import { startTcpProxy } from './tcp-proxy.ts'
import type { TcpProxy } from './tcp-proxy.ts'

type FastifyInstance = Awaited<ReturnType<typeof buildApp>>

/** What the server served. */
export class ServedLog {
  /** Every request, as `METHOD /path?query`. */
  readonly requests: string[] = []
  /** Response bytes of JSON answers (live responses stream and are not counted here). */
  bytes = 0
  /** Per stream, how often each entry seq was sent in a window answer. */
  readonly windowEntries = new Map<string, Map<number, number>>()

  /** Requests whose path starts with `prefix`. */
  count(prefix: string): number {
    return this.requests.filter((line) => line.split(' ')[1]?.startsWith(prefix)).length
  }

  /** Window entries of `stream` sent more than once, as `seq × times` (empty = nothing refetched). */
  refetched(stream: string): string[] {
    const out: string[] = []
    for (const [seq, times] of this.windowEntries.get(stream) ?? []) if (times > 1) out.push(`${seq}×${times}`)
    return out
  }

  /** Entries of `stream` sent by window answers, counting repeats. */
  sent(stream: string): number {
    let total = 0
    for (const times of this.windowEntries.get(stream)?.values() ?? []) total += times
    return total
  }
}

/** A server with its log. */
export interface CountedServer {
  url: string
  app: FastifyInstance
  served: ServedLog
}

/**
 * Stands in front of every route (after the request is logged), as a gateway or an auth layer
 * would: it may answer the request itself (`reply.send`, `reply.hijack`) or let it through.
 */
export type Gate = (request: GateRequest, reply: GateReply) => Promise<unknown>

/** What a gate sees of a request. */
export interface GateRequest {
  method: string
  url: string
  headers: Record<string, string | string[] | undefined>
}

/** What a gate may do with the reply. */
export interface GateReply {
  code(status: number): GateReply
  header(name: string, value: string): GateReply
  send(body?: string): unknown
  /** Takes the raw response over (to write a response by hand). */
  hijack(): unknown
  raw: ServerResponse
}

/** Builds and starts a counted server, with an optional gate in front of its routes. */
export async function serveCounted(options: AppOptions = {}, gate?: Gate): Promise<CountedServer> {
  const app = await buildApp(options)
  const served = new ServedLog()
  app.addHook('onRequest', async (request) => {
    served.requests.push(`${request.method} ${request.url}`)
  })
  if (gate !== undefined) app.addHook('onRequest', (request, reply) => gate(request, reply))
  app.addHook('onSend', async (request, _reply, payload) => {
    if (typeof payload !== 'string') return payload
    served.bytes += Buffer.byteLength(payload)
    if (request.url.startsWith('/v1/window/')) {
      const body = JSON.parse(payload) as { stream?: string; entries?: Array<{ seq: number }> }
      if (body.stream !== undefined && body.entries !== undefined) {
        const seqs = served.windowEntries.get(body.stream) ?? new Map<number, number>()
        for (const entry of body.entries) seqs.set(entry.seq, (seqs.get(entry.seq) ?? 0) + 1)
        served.windowEntries.set(body.stream, seqs)
      }
    }
    return payload
  })
  const url = await app.listen({ port: 0, host: '127.0.0.1' })
  return { url, app, served }
}

/** The fixtures of a client test. */
export interface ClientFixtures {
  /** Starts a counted server (closed after the test). */
  serve: (options?: AppOptions, gate?: Gate) => Promise<CountedServer>
  /** A client of `url` whose trace is collected in `events` (closed after the test). */
  connect: (url: string, options?: Omit<StateStreamClientOptions, 'baseUrl'>) => { client: StateStreamClient; events: TraceEvent[] }
  /** A proxy in front of `url` (closed after the test). */
  proxy: (url: string) => Promise<TcpProxy>
}

export const clientTest = engineTest.extend<ClientFixtures>({
  // vitest fixtures name their dependencies in a destructuring pattern; these have none.
  serve: async ({ onEngine }, use) => {
    const apps: FastifyInstance[] = []
    await use(async (options = {}, gate) => {
      const server = await serveCounted(onEngine(options), gate)
      apps.push(server.app)
      return server
    })
    await Promise.all(apps.map((app) => app.close()))
  },
  connect: async ({}, use) => {
    const clients: StateStreamClient[] = []
    await use((url, options = {}) => {
      const events: TraceEvent[] = []
      const client = new StateStreamClient({ baseUrl: url, ...options, trace: (event) => events.push(event) })
      clients.push(client)
      return { client, events }
    })
    await Promise.all(clients.map((client) => client.close()))
  },
  proxy: async ({}, use) => {
    const proxies: TcpProxy[] = []
    await use(async (url) => {
      const { hostname, port } = new URL(url)
      const proxy = await startTcpProxy({ host: hostname, port: Number(port) })
      proxies.push(proxy)
      return proxy
    })
    await Promise.all(proxies.map((proxy) => proxy.close()))
  },
})

/** A clock the server stamps entries with, moved by the test. */
export function testClock(start = 1_700_000_000_000): { now: () => number; set: (ms: number) => void; advance: (ms: number) => void } {
  let current = start
  return {
    now: () => current,
    set: (ms) => {
      current = ms
    },
    advance: (ms) => {
      current += ms
    },
  }
}

/** Shorthand for a merge mutation. */
export function merge(value: { [key: string]: Json }): { merge: Json } {
  return { merge: value }
}
