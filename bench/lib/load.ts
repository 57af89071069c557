/**
 * Load generation over keep-alive connections (an undici `Pool`), and the payloads every
 * workload shares: 100-byte JSON merge mutations.
 */
import { Pool } from 'undici'

/** Bytes of one mutation on the wire, exactly. */
export const MUTATION_BYTES = 100

/**
 * Keys the mutations cycle over: the state is an object of this many 100-byte-ish members (16
 * sensors, say). Its width matters: a structure-sharing `apply` copies the object it changes, so
 * its cost grows with the number of members (see README, "What bounds what").
 */
export const STATE_KEYS = 16

/**
 * A JSON merge mutation of exactly `MUTATION_BYTES` bytes that sets key `k<key>` to a padded
 * string: `{"merge":{"k7":"xxxx…"}}`. `key` keeps the state bounded (it cycles), `tag` makes
 * bodies distinct.
 */
export function mutation(key: number, tag = 0, bytes = MUTATION_BYTES): string {
  const head = `{"merge":{"k${key}":"${tag}:`
  const tail = '"}}'
  const pad = bytes - head.length - tail.length
  if (pad < 0) throw new Error('mutation too small for its key')
  return head + 'x'.repeat(pad) + tail
}

/** `count` distinct mutations over `keys` keys. */
export function mutations(count: number, keys = STATE_KEYS): string[] {
  return Array.from({ length: count }, (_, i) => mutation(i % keys, i))
}

/** A JSON array body of `size` mutations starting at `from`. */
export function batchBody(size: number, from = 0, keys = STATE_KEYS): string {
  const parts: string[] = []
  for (let i = 0; i < size; i++) parts.push(mutation((from + i) % keys, from + i))
  return `[${parts.join(',')}]`
}

/** What one timed load run achieved. */
export interface LoadResult {
  requests: number
  errors: number
  seconds: number
  /** Requests per second. */
  rate: number
  firstError?: string
}

/**
 * POSTs `bodies` (cycling) to `path` from `connections` concurrent senders for `seconds`, each
 * sender waiting for its answer before the next (one request in flight per connection).
 */
export async function postLoad(
  pool: Pool,
  path: string,
  bodies: readonly string[],
  connections: number,
  seconds: number,
  headers: Record<string, string> = { 'content-type': 'application/json' },
): Promise<LoadResult> {
  let requests = 0
  let errors = 0
  let firstError: string | undefined
  let next = 0
  const started = performance.now()
  const deadline = started + seconds * 1000
  const sender = async (): Promise<void> => {
    while (performance.now() < deadline) {
      const body = bodies[next++ % bodies.length] as string
      try {
        const response = await pool.request({ method: 'POST', path, headers, body })
        await response.body.dump()
        if (response.statusCode >= 300) {
          errors++
          firstError ??= `HTTP ${response.statusCode}`
        } else {
          requests++
        }
      } catch (error) {
        errors++
        firstError ??= String(error)
      }
    }
  }
  await Promise.all(Array.from({ length: connections }, sender))
  const elapsed = (performance.now() - started) / 1000
  return { requests, errors, seconds: elapsed, rate: requests / elapsed, ...(firstError !== undefined && { firstError }) }
}

/** A keep-alive pool of `connections` to `url`. */
export function pool(url: string, connections: number): Pool {
  return new Pool(url, { connections, pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000 })
}

/** One request, its body as text; throws on an unexpected status. */
export async function call(
  dispatcher: Pool,
  method: 'GET' | 'PUT' | 'POST' | 'HEAD' | 'DELETE',
  path: string,
  options: { headers?: Record<string, string>; body?: string; expect?: number[] } = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  const response = await dispatcher.request({
    method,
    path,
    ...(options.headers !== undefined && { headers: options.headers }),
    ...(options.body !== undefined && { body: options.body }),
  })
  const text = await response.body.text()
  const expect = options.expect ?? [200, 201, 204]
  if (!expect.includes(response.statusCode)) {
    throw new Error(`${method} ${path}: HTTP ${response.statusCode} ${text.slice(0, 300)}`)
  }
  return { status: response.statusCode, headers: response.headers, text }
}
