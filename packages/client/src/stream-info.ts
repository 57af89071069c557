/**
 * What a stream is, as opposed to what it holds: its configuration and head (`HEAD
 * /v1/stream/<name>`) and the layout of its windows (`GET /v1/windows/<name>`). Tools that show
 * or copy streams (the CLI's `inspect` and `export`, the inspector's timeline) read these.
 */
import { ErrorCode, HEADERS, QUERY, ROUTES, STATE_KIND, StateStreamError, decodeOffset } from '@statestream/common'
import type { SnapshotPolicy, WindowBounds } from '@statestream/common'
import type { JsonResponse, RequestOptions } from './io/transport.ts'

/** A stream's configuration and head, as `HEAD` reports them. */
export interface StreamInfo {
  name: string
  /** `state` for a state stream; `plain` for any other Durable Streams stream. */
  kind: 'state' | 'plain'
  contentType: string
  /** Seq of the last entry (0 for a stream without entries). */
  seq: number
  /** True once the stream is closed: its state is final and appends are refused. */
  closed: boolean
  /** The snapshot policy (state streams only). */
  snapshot?: SnapshotPolicy
  /** Seconds without a read or write after which the stream expires, if it has a TTL. */
  ttlSeconds?: number
  /** When the stream expires, ms since the epoch, if it has an expiry time. */
  expiresAt?: number
}

/** The `Stream-TTL` or `Stream-Expires-At` header a create sends for an expiry. */
export function expiryHeaders(options: { ttlSeconds?: number; expiresAt?: number }): Record<string, string> {
  return {
    ...(options.ttlSeconds !== undefined && { [HEADERS.streamTtl]: String(options.ttlSeconds) }),
    ...(options.expiresAt !== undefined && { [HEADERS.streamExpiresAt]: new Date(options.expiresAt).toISOString() }),
  }
}

/** A range of the window listing, ms since the epoch; open ends run to the stream's start or head. */
export interface WindowRange {
  from?: number
  to?: number
}

/** Sends one request (the stream handle's, with its retries and headers). */
type Request = <T>(path: string, options?: RequestOptions) => Promise<JsonResponse<T>>

/** The `HEAD` of stream `name`, as a `StreamInfo`. */
export async function readStreamInfo(request: Request, name: string, signal?: AbortSignal): Promise<StreamInfo> {
  let headers: Record<string, string>
  try {
    ;({ headers } = await request<undefined>(`${ROUTES.stream}${name}`, { method: 'HEAD', ...(signal !== undefined && { signal }) }))
  } catch (err) {
    // A HEAD answer has no body, so no code of ours: its 404 is the stream's absence, its 410 a
    // soft delete (a deleted stream that forks still read from).
    const answer = err as { status?: unknown; headers?: Record<string, string> }
    if (answer.status === 404) throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `no stream "${name}"`, { cause: err, status: 404, headers: answer.headers ?? {} })
    if (answer.status === 410) throw new StateStreamError(ErrorCode.STREAM_DELETED, `stream "${name}" was deleted`, { cause: err, status: 410, headers: answer.headers ?? {} })
    throw err
  }
  const offset = decodeOffset(headers[HEADERS.streamNextOffset] ?? '-1')
  const number = (header: string) => {
    const value = headers[header]
    return value === undefined ? undefined : Number(value)
  }
  const entries = number(HEADERS.snapshotEntries)
  const bytes = number(HEADERS.snapshotBytes)
  const ms = number(HEADERS.snapshotMs)
  const ttl = number(HEADERS.streamTtl)
  const expires = headers[HEADERS.streamExpiresAt]
  return {
    name,
    kind: headers[HEADERS.streamKind] === STATE_KIND ? 'state' : 'plain',
    contentType: headers[HEADERS.contentType] ?? 'application/octet-stream',
    seq: offset.kind === 'seq' ? offset.seq : 0,
    closed: headers[HEADERS.streamClosed] === 'true',
    ...(entries !== undefined && bytes !== undefined && ms !== undefined && { snapshot: { entries, bytes, ms } }),
    ...(ttl !== undefined && { ttlSeconds: ttl }),
    ...(expires !== undefined && { expiresAt: Date.parse(expires) }),
  }
}

/**
 * The windows of stream `name` covering `range`, time-ordered: bounds, entry counts and bytes, no
 * entries. The server lists a bounded number per answer; the rest are asked for from where the
 * answer stopped, so any number of windows is listed.
 */
export async function readWindowBounds(request: Request, name: string, range: WindowRange, signal?: AbortSignal): Promise<WindowBounds[]> {
  const out: WindowBounds[] = []
  let from = range.from ?? 0
  const to = range.to ?? Number.MAX_SAFE_INTEGER
  for (;;) {
    const { body } = await request<{ windows: WindowBounds[] }>(`${ROUTES.windows}${name}?${QUERY.from}=${from}&${QUERY.to}=${to}`, {
      ...(signal !== undefined && { signal }),
    })
    const last = out[out.length - 1]
    // A continued listing starts with the window the previous answer ended with (or windows at its ts).
    const fresh = last === undefined ? body.windows : body.windows.filter((window) => window.start.seq > last.start.seq)
    out.push(...fresh)
    const end = out[out.length - 1]
    // The listing is complete once its last window is open or reaches past `to` (a window that
    // ends at or before `to` is followed by one that starts there, so a full answer has it).
    if (fresh.length === 0 || end === undefined || end.end === null || end.end.ts > to) return out
    from = end.start.ts
  }
}

/** One stream of the server's list (`GET /v1/streams`). */
export interface StreamListing {
  name: string
  kind: 'state' | 'plain'
  /** Seq of the last entry. */
  seq: number
  /** Ts of the last entry (the creation time when there is none), ms. */
  ts: number
  entries: number
  /** Bytes of the stored messages. */
  bytes: number
  closed: boolean
}

/** A page of the stream list, and the cursor of the next page (`null` after the last). */
export interface StreamPage {
  streams: StreamListing[]
  next: string | null
}

/** Which streams to list. */
export interface ListOptions {
  /** Only names starting with this. */
  prefix?: string
  /** Streams per page (the server caps it). */
  limit?: number
  /** Where a page starts: the `next` of the page before it. */
  cursor?: string
  signal?: AbortSignal
}

/** One page of the server's stream list, in name order. */
export async function readStreamPage(request: Request, options: ListOptions): Promise<StreamPage> {
  const query = new URLSearchParams()
  if (options.prefix !== undefined) query.set(QUERY.prefix, options.prefix)
  if (options.limit !== undefined) query.set(QUERY.limit, String(options.limit))
  if (options.cursor !== undefined) query.set(QUERY.cursor, options.cursor)
  const suffix = query.size === 0 ? '' : `?${query}`
  const { body } = await request<StreamPage>(`${ROUTES.streams}${suffix}`, { ...(options.signal !== undefined && { signal: options.signal }) })
  return body
}
