/**
 * The request headers of the Durable Streams routes, parsed into store requests: a `PUT`'s
 * configuration (with a fork's source and point), producer headers, `Stream-Closed`. Every
 * malformed value is a clear 400; what a value means for the stream is the store's to decide.
 */
import { ErrorCode, HEADERS, ROUTES, STATE_KIND, StateStreamError, assertStreamName, decodeOffset, quote } from '@statestream/common'
import type { SnapshotPolicy } from '@statestream/common'
import type { FastifyRequest } from 'fastify'
import type { CreateStream, ForkRequest, Producer } from '../stream-types.ts'

const STRICT_INT = /^(0|[1-9]\d*)$/

/** The create request a `PUT` of stream `name` makes. */
export function createRequest(request: FastifyRequest, name: string): CreateStream {
  const headers = request.headers
  const kind = kindHeader(request)
  const ttl = headerValue(headers[HEADERS.streamTtl])
  const expires = headerValue(headers[HEADERS.streamExpiresAt])
  if (ttl !== undefined && expires !== undefined) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give Stream-TTL or Stream-Expires-At, not both')
  }
  const policy: Partial<SnapshotPolicy> = {}
  for (const [header, key] of [
    [HEADERS.snapshotEntries, 'entries'],
    [HEADERS.snapshotBytes, 'bytes'],
    [HEADERS.snapshotMs, 'ms'],
  ] as const) {
    const value = headerValue(headers[header])
    if (value !== undefined) policy[key] = positiveInt(value, header)
  }
  const fork = forkRequest(request)
  const createdAt = headerValue(headers[HEADERS.streamCreatedAt])
  if (createdAt !== undefined && fork !== undefined) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a fork begins with its source: Stream-Created-At cannot be given with Stream-Forked-From')
  }
  const contentType = headerValue(headers[HEADERS.contentType])
  return {
    name,
    ...(contentType !== undefined && { contentType }),
    // A fork is of its source's kind unless the request says; any other stream is plain unless it does.
    ...(kind !== undefined ? { kind: 'state' as const } : fork === undefined && { kind: 'plain' as const }),
    ...(ttl !== undefined && { ttlSeconds: strictInt(ttl, 'Stream-TTL') }),
    ...(expires !== undefined && { expiresAt: rfc3339(expires) }),
    ...(createdAt !== undefined && { createdAt: strictInt(createdAt, 'Stream-Created-At') }),
    policy,
    ...(Buffer.isBuffer(request.body) && { body: request.body }),
    ...(closedHeader(request) && { closed: true }),
    ...(fork !== undefined && { fork }),
  }
}

/** `Stream-Kind`, which names the one kind a request may ask for (`state`), when given. */
export function kindHeader(request: FastifyRequest): typeof STATE_KIND | undefined {
  const kind = headerValue(request.headers[HEADERS.streamKind])
  if (kind !== undefined && kind !== STATE_KIND) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Kind must be "${STATE_KIND}" when given`)
  }
  return kind
}

/**
 * The fork a `PUT` asks for, if any. `Stream-Forked-From` is the source's path on this server
 * (`/v1/stream/<name>`, under whatever prefix the routes are mounted at).
 */
function forkRequest(request: FastifyRequest): ForkRequest | undefined {
  const headers = request.headers
  const from = headerValue(headers[HEADERS.forkedFrom])
  const offset = headerValue(headers[HEADERS.forkOffset])
  const sub = headerValue(headers[HEADERS.forkSubOffset])
  const at = headerValue(headers[HEADERS.forkAt])
  if (from === undefined) {
    if (offset !== undefined || sub !== undefined || at !== undefined) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'Stream-Fork-Offset, -Sub-Offset and -At need a Stream-Forked-From')
    }
    return undefined
  }
  // The routes' own prefix, as registered (`/v1/stream/` under any mount prefix).
  const prefix = request.routeOptions.url?.replace(/\*$/, '') ?? ROUTES.stream
  const path = from.split('?')[0] ?? ''
  if (!path.startsWith(prefix)) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Forked-From must be a stream path of this server, ${prefix}<name>`)
  }
  // Taken as it is: names need no escapes, and an escaped character is never part of one.
  const source = assertStreamName(path.slice(prefix.length))
  const parsed = offset === undefined ? undefined : decodeOffset(offset)
  return {
    source,
    ...(parsed?.kind === 'seq' && { offset: parsed.seq }),
    ...(sub !== undefined && { subOffset: strictInt(sub, 'Stream-Fork-Sub-Offset') }),
    ...(at !== undefined && { at: strictInt(at, 'Stream-Fork-At') }),
  }
}

/** True when the request carries `Stream-Closed: true` (any other value is ignored, §4.1). */
export function closedHeader(request: FastifyRequest): boolean {
  return headerValue(request.headers[HEADERS.streamClosed])?.trim().toLowerCase() === 'true'
}

/** The idempotent producer headers: all three or none. */
export function producerHeaders(request: FastifyRequest): Producer | undefined {
  const id = headerValue(request.headers[HEADERS.producerId])
  const epoch = headerValue(request.headers[HEADERS.producerEpoch])
  const seq = headerValue(request.headers[HEADERS.producerSeq])
  if (id === undefined && epoch === undefined && seq === undefined) return undefined
  if (id === undefined || epoch === undefined || seq === undefined) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'Producer-Id, Producer-Epoch and Producer-Seq go together')
  }
  if (id === '') throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'Producer-Id must not be empty')
  return { id, epoch: strictInt(epoch, 'Producer-Epoch'), seq: strictInt(seq, 'Producer-Seq') }
}

/** A header given once (the first of repeated ones). */
export function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function strictInt(value: string, name: string): number {
  const n = Number(value)
  if (!STRICT_INT.test(value) || !Number.isSafeInteger(n)) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `${name} must be a non-negative integer, got ${quote(value)}`)
  }
  return n
}

function positiveInt(value: string, name: string): number {
  const n = strictInt(value, name)
  if (n === 0) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `${name} must be at least 1`)
  return n
}

function rfc3339(value: string): number {
  const ms = Date.parse(value)
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i.test(value) || Number.isNaN(ms)) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Stream-Expires-At must be an RFC 3339 time, got ${quote(value)}`)
  }
  return ms
}
