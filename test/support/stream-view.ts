/**
 * Everything a reader can see of a stream, over plain HTTP, to tell two servers' copies apart:
 * its HEAD (kind, content type, head offset, policy, expiry, closed), every byte of its log read
 * from the start, and for a state stream its windows and its state at every entry's seq and ts.
 */
import { request } from 'undici'
import { getJson } from './live-server.ts'

/** The HEAD headers a copy must carry over. */
const HEAD_KEYS = [
  'content-type',
  'stream-next-offset',
  'stream-kind',
  'stream-snapshot-entries',
  'stream-snapshot-bytes',
  'stream-snapshot-ms',
  'stream-closed',
  'stream-ttl',
  'stream-expires-at',
]

/** A stream's HEAD, the headers above. */
export async function headOf(url: string, name: string): Promise<Record<string, string | undefined>> {
  const head = await request(`${url}/v1/stream/${name}`, { method: 'HEAD' })
  await head.body.dump()
  if (head.statusCode !== 200) throw new Error(`HEAD ${name}: ${head.statusCode}`)
  return Object.fromEntries(HEAD_KEYS.map((key) => [key, head.headers[key] as string | undefined]))
}

/** Every byte of a stream's log, read chunk by chunk from the start (a JSON stream's arrays, joined into one). */
export async function logOf(url: string, name: string): Promise<{ bytes: Buffer; reads: number }> {
  const parts: Buffer[] = []
  const messages: unknown[] = []
  let offset = '-1'
  let json = false
  for (let reads = 1; ; reads++) {
    const response = await request(`${url}/v1/stream/${name}?offset=${offset}`)
    const body = Buffer.from(await response.body.arrayBuffer())
    if (response.statusCode !== 200) throw new Error(`GET ${name}: ${response.statusCode} ${body}`)
    json = String(response.headers['content-type']).startsWith('application/json')
    if (json) messages.push(...(JSON.parse(body.toString()) as unknown[]))
    else parts.push(body)
    offset = String(response.headers['stream-next-offset'])
    if (response.headers['stream-up-to-date'] === 'true') {
      return { bytes: json ? Buffer.from(JSON.stringify(messages)) : Buffer.concat(parts), reads }
    }
  }
}

/** A state stream's windows and its state at every entry's seq and ts. */
export async function historyOf(url: string, name: string): Promise<{ windows: unknown; states: unknown[] }> {
  const windows = (await getJson<{ windows: Array<{ start: { seq: number } }> }>(url, `/v1/windows/${name}`)).body
  return { windows, states: await statesOf(url, name, windows.windows) }
}

/** A state stream's entries and its state after each (by seq and by ts): what any reader can ask of its history. */
export async function statesOf(url: string, name: string, windows?: Array<{ start: { seq: number } }>): Promise<unknown[]> {
  const list = windows ?? (await getJson<{ windows: Array<{ start: { seq: number } }> }>(url, `/v1/windows/${name}`)).body.windows
  const states: unknown[] = []
  for (const window of list) {
    const { body } = await getJson<{ start: unknown; entries: Array<{ seq: number; ts: number }>; end: unknown }>(url, `/v1/window/${name}?seq=${window.start.seq}`)
    // Only the entries and the state after each: where windows start and end is for `historyOf`.
    for (const entry of body.entries) {
      states.push(entry, (await getJson(url, `/v1/state/${name}?seq=${entry.seq}`)).body, (await getJson(url, `/v1/state/${name}?at=${entry.ts}`)).body)
    }
  }
  return states
}

/** Everything of the above that a stream has: HEAD and log always, history for a state stream. */
export async function viewOf(url: string, name: string): Promise<unknown> {
  const head = await headOf(url, name)
  const log = (await logOf(url, name)).bytes.toString('base64')
  return head['stream-kind'] === 'state' ? { head, log, ...(await historyOf(url, name)) } : { head, log }
}
