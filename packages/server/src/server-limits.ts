/**
 * Limits of the HTTP server itself, so that no client can hold it by being slow or many:
 * - the request head must arrive within `headersTimeoutMs`, and the whole request (head and body)
 *   within `requestTimeoutMs` — a client trickling its headers or body (slowloris) is cut then;
 * - a connection with nothing going either way for `idleTimeoutMs` is closed (live responses send
 *   heartbeats well within it), an idle keep-alive after `keepAliveTimeoutMs`;
 * - at most `maxConnectionsPerAddress` open connections from one client address.
 *
 * Node checks the two request timeouts every `connectionsCheckingInterval`; it is set to a fraction
 * of the headers timeout here (Node's default, 30 s, would let a slow client stay up to 30 s late).
 */
import type { Server, ServerOptions } from 'node:http'
import type { Socket } from 'node:net'
import { ERROR_STATUS, ErrorCode } from '@statestream/common'
import { LIVE_DEFAULTS } from './live/live-hub.ts'

/** Timeouts and connection caps of `buildApp`'s server (all durations in ms). */
export interface ServerLimitsOptions {
  /** Most time to receive a request's head (request line and headers). Default 10,000. */
  headersTimeoutMs?: number
  /** Most time to receive a whole request, head and body. Default 30,000. */
  requestTimeoutMs?: number
  /**
   * A connection with no traffic either way for this long is closed. Must be longer than
   * `heartbeatMs` and `longPollTimeoutMs`, which it is checked against. Default 120,000.
   */
  idleTimeoutMs?: number
  /** An idle keep-alive connection is closed after this long. Default 72,000. */
  keepAliveTimeoutMs?: number
  /**
   * Most open connections from one client address; one more is answered `429
   * TOO_MANY_CONNECTIONS` and closed. 0: no cap (the default; behind a proxy every connection
   * comes from the proxy's address).
   */
  maxConnectionsPerAddress?: number
}

/** The defaults of `ServerLimitsOptions`. */
export const SERVER_LIMIT_DEFAULTS: Required<ServerLimitsOptions> = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 72_000,
  maxConnectionsPerAddress: 0,
}

/** The limits among `options`, defaults filled in; throws a `RangeError` for values that cannot work. */
export function resolveServerLimits(options: ServerLimitsOptions & { heartbeatMs?: number; longPollTimeoutMs?: number }): Required<ServerLimitsOptions> {
  const limits = { ...SERVER_LIMIT_DEFAULTS }
  for (const key of Object.keys(SERVER_LIMIT_DEFAULTS) as Array<keyof ServerLimitsOptions>) {
    const value = options[key]
    if (value === undefined) continue
    const least = key === 'maxConnectionsPerAddress' ? 0 : 1
    if (!Number.isSafeInteger(value) || value < least) throw new RangeError(`${key} must be an integer of at least ${least}, got ${value}`)
    limits[key] = value
  }
  if (limits.headersTimeoutMs > limits.requestTimeoutMs) {
    throw new RangeError(`headersTimeoutMs (${limits.headersTimeoutMs}) must not be longer than requestTimeoutMs (${limits.requestTimeoutMs})`)
  }
  for (const key of ['heartbeatMs', 'longPollTimeoutMs'] as const) {
    const value = options[key] ?? LIVE_DEFAULTS[key]
    if (value >= limits.idleTimeoutMs) {
      throw new RangeError(`idleTimeoutMs (${limits.idleTimeoutMs}) must be longer than ${key} (${value}), or live connections are cut while idle`)
    }
  }
  return limits
}

/** Fastify server options that enforce `limits`. */
export function serverOptions(limits: Required<ServerLimitsOptions>): {
  connectionTimeout: number
  keepAliveTimeout: number
  requestTimeout: number
  http: ServerOptions
} {
  return {
    connectionTimeout: limits.idleTimeoutMs,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    requestTimeout: limits.requestTimeoutMs,
    http: {
      headersTimeout: limits.headersTimeoutMs,
      // A slow client is cut at most this late past its timeout.
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, Math.floor(limits.headersTimeoutMs / 4))),
    },
  }
}

const TOO_MANY = JSON.stringify({
  error: { code: ErrorCode.TOO_MANY_CONNECTIONS, message: 'too many open connections from this address; close one and retry' },
})
const TOO_MANY_RESPONSE =
  `HTTP/1.1 ${ERROR_STATUS.TOO_MANY_CONNECTIONS} Too Many Requests\r\n` +
  'content-type: application/json; charset=utf-8\r\n' +
  'cache-control: no-store\r\n' +
  'retry-after: 1\r\n' +
  `content-length: ${Buffer.byteLength(TOO_MANY)}\r\n` +
  'connection: close\r\n\r\n' +
  TOO_MANY

/**
 * Caps open connections per client address on `server`: one over `max` gets a `429` and is
 * closed at once, before any request of it is read. Returns the count of open connections of an
 * address (for tests and metrics).
 */
export function capConnectionsPerAddress(server: Server, max: number): (address: string) => number {
  const open = new Map<string, number>()
  if (max > 0) {
    server.on('connection', (socket: Socket) => {
      const address = socket.remoteAddress ?? ''
      const count = (open.get(address) ?? 0) + 1
      if (count > max) {
        // Not counted, never parsed: the answer goes out and the socket goes away.
        socket.pause()
        socket.end(TOO_MANY_RESPONSE)
        socket.once('finish', () => socket.destroy())
        return
      }
      open.set(address, count)
      socket.once('close', () => {
        const left = (open.get(address) ?? 1) - 1
        if (left <= 0) open.delete(address)
        else open.set(address, left)
      })
    })
  }
  return (address) => open.get(address) ?? 0
}
