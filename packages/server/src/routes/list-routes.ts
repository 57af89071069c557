/**
 * `GET /v1/streams?prefix=&limit=&cursor=`: the streams, in name order, a page at a time. Each is
 * `{ name, kind, seq, ts, entries, bytes, closed }`; `next` is the cursor of the next page, or
 * `null` after the last one.
 */
import {
  CACHE_NO_STORE,
  ErrorCode,
  QUERY,
  ROUTES,
  STREAM_LIST_DEFAULT_LIMIT,
  STREAM_LIST_MAX_LIMIT,
  STREAM_NAME_MAX_BYTES,
  StateStreamError,
  streamNameProblem,
} from '@statestream/common'
import type { FastifyInstance } from 'fastify'
import { installSecurityHeaders } from '../http-errors.ts'
import { intParam, single } from '../params.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StreamInfo } from '../stream-types.ts'

/** A stream as the list shows it. */
export interface ListedStream {
  name: string
  kind: StreamInfo['kind']
  /** The seq of its last entry (0 when it has none). */
  seq: number
  /** The ts of its last entry (its creation time when it has none). */
  ts: number
  /** How many entries its history holds. */
  entries: number
  /** Bytes of its entries. */
  bytes: number
  /** True once the stream is closed: its history is final. */
  closed: boolean
}

/** Characters a name prefix may hold: those of names, and the segment separator. */
const PREFIX = /^[A-Za-z0-9._~/-]*$/

export async function listRoutes(app: FastifyInstance, options: { store: StreamStore }): Promise<void> {
  const { store } = options
  installSecurityHeaders(app)

  app.get(ROUTES.streams, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    const prefix = single(query, QUERY.prefix) ?? ''
    if (!PREFIX.test(prefix) || prefix.length > STREAM_NAME_MAX_BYTES) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, '"prefix" must be the start of a stream name')
    }
    const limit = intParam(query, QUERY.limit) ?? STREAM_LIST_DEFAULT_LIMIT
    if (limit < 1 || limit > STREAM_LIST_MAX_LIMIT) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"limit" must be from 1 to ${STREAM_LIST_MAX_LIMIT}, got ${limit}`)
    }
    const after = decodeCursor(single(query, QUERY.cursor))
    const page = await store.list(prefix, after, limit)
    return reply.header('cache-control', CACHE_NO_STORE).send({
      streams: page.streams.map(listed),
      next: page.next === null ? null : encodeCursor(page.next),
    })
  })
}

function listed(info: StreamInfo): ListedStream {
  return {
    name: info.name,
    kind: info.kind,
    seq: info.headSeq,
    ts: info.headTs,
    entries: info.headSeq,
    bytes: info.totalBytes,
    closed: info.closed,
  }
}

/** A cursor is the last name of a page, opaque to clients. */
function encodeCursor(name: string): string {
  return Buffer.from(name).toString('base64url')
}

function decodeCursor(cursor: string | undefined): string {
  if (cursor === undefined) return ''
  const name = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString() : ''
  if (name === '' || streamNameProblem(name) !== undefined) {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, '"cursor" must be the "next" of an earlier page')
  }
  return name
}
