/**
 * `/v1/stream/<name>`: the log, as the Durable Streams protocol defines it — PUT create, POST
 * append, GET catch-up read (live reads are in `live-routes.ts`), HEAD, DELETE. State streams are
 * JSON streams created with `Stream-Kind: state`; their messages are mutations. Closure
 * (`Stream-Closed`) and forks (`Stream-Forked-From`) are served for every stream.
 */
import {
  CACHE_NO_STORE,
  ErrorCode,
  HEADERS,
  LIVE_MODE,
  QUERY,
  ROUTES,
  STATE_KIND,
  StateStreamError,
  decodeOffset,
  encodeOffset,
} from '@statestream/common'
import { createHash } from 'node:crypto'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { installSecurityHeaders } from '../http-errors.ts'
import { isJsonStream, offsetAfter, renderEntries } from '../log-format.ts'
import { intParam, single, streamName } from '../params.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StreamInfo } from '../stream-types.ts'
import { notModified } from './not-modified.ts'
import { closedHeader, createRequest, headerValue, kindHeader, producerHeaders } from './stream-headers.ts'

/** Options of the log routes. */
export interface StreamRoutesOptions {
  store: StreamStore
  /** Largest catch-up read, in bytes (at least one entry is always sent). */
  readChunkBytes: number
  /** Serves `live=long-poll` and `live=sse` reads. */
  liveRead: (request: FastifyRequest, reply: FastifyReply, info: StreamInfo, mode: string, afterSeq: number | 'now') => unknown
}

/** Catch-up reads of immutable data may be cached briefly by shared caches (protocol §8.1). */
const CACHE_CATCH_UP = 'public, max-age=60, stale-while-revalidate=300'

export async function streamRoutes(app: FastifyInstance, options: StreamRoutesOptions): Promise<void> {
  const { store } = options
  installSecurityHeaders(app)
  const route = `${ROUTES.stream}*`

  app.put(route, async (request, reply) => {
    const name = streamName(request.params)
    const { created, info } = await store.create(createRequest(request, name))
    // The protocol's Location is the stream's absolute URL.
    if (created) reply.code(201).header(HEADERS.location, `${request.protocol}://${request.host}${request.url.split('?')[0]}`)
    if (info.closed) reply.header(HEADERS.streamClosed, 'true')
    return reply
      .header('content-type', info.contentType)
      .header(HEADERS.streamNextOffset, encodeOffset(info.headSeq))
      .send()
  })

  app.post(route, async (request, reply) => {
    const name = streamName(request.params)
    const contentType = headerValue(request.headers['content-type'])
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    const closed = closedHeader(request)
    // Only a close may come without a body (and then its Content-Type does not matter, §5.2).
    if (body.length === 0 && !closed) throw new StateStreamError(ErrorCode.EMPTY_BODY, 'an append needs a non-empty body')
    if (body.length > 0 && contentType === undefined) throw new StateStreamError(ErrorCode.BAD_REQUEST, 'an append needs a Content-Type')
    const producer = producerHeaders(request)
    const streamSeq = headerValue(request.headers[HEADERS.streamSeq])
    const kind = kindHeader(request)
    const result = await store.append({
      name,
      body,
      ...(contentType !== undefined && { contentType }),
      ...(streamSeq !== undefined && { streamSeq }),
      ...(producer !== undefined && { producer }),
      ...(closed && { closed }),
      ...(kind !== undefined && { kind }),
    })
    reply.header(HEADERS.streamNextOffset, encodeOffset(result.headSeq))
    if (result.closed) reply.header(HEADERS.streamClosed, 'true')
    if (result.producer !== undefined) {
      reply.header(HEADERS.producerEpoch, String(result.producer.epoch)).header(HEADERS.producerSeq, String(result.producer.seq))
    }
    // 200 tells an idempotent producer its data is new; duplicates and plain appends are 204.
    return reply.code(result.producer !== undefined && result.status === 'appended' && body.length > 0 ? 200 : 204).send()
  })

  app.head(route, async (request, reply) => {
    const info = await store.get(streamName(request.params))
    reply
      .header('content-type', info.contentType)
      .header(HEADERS.streamNextOffset, encodeOffset(info.headSeq))
      .header('cache-control', CACHE_NO_STORE)
    if (info.closed) reply.header(HEADERS.streamClosed, 'true')
    // The TTL window itself (it slides with every read and write), not the time left.
    if (info.ttlSeconds !== null) reply.header(HEADERS.streamTtl, String(info.ttlSeconds))
    if (info.expiresAt !== null) reply.header(HEADERS.streamExpiresAt, new Date(info.expiresAt).toISOString())
    if (info.kind === 'state') {
      reply
        .header(HEADERS.streamKind, STATE_KIND)
        .header(HEADERS.snapshotEntries, String(info.policy.entries))
        .header(HEADERS.snapshotBytes, String(info.policy.bytes))
        .header(HEADERS.snapshotMs, String(info.policy.ms))
    }
    return reply.send()
  })

  app.delete(route, async (request, reply) => {
    await store.delete(streamName(request.params))
    return reply.code(204).send()
  })

  app.get(route, { exposeHeadRoute: false }, async (request, reply) => {
    const info = await store.get(streamName(request.params))
    const query = request.query as Record<string, unknown>
    const offsetText = single(query, QUERY.offset)
    const live = single(query, QUERY.live)
    const offset = decodeOffset(offsetText ?? '-1')
    // A statestream extension: at most `limit` messages, so a reader can take a bytes stream's
    // messages one by one (the protocol serves their bytes run together).
    const limit = intParam(query, QUERY.limit)
    if (limit !== undefined && (limit < 1 || live !== undefined)) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, live !== undefined ? '"limit" applies to catch-up reads, not live ones' : `"limit" must be at least 1, got ${limit}`)
    }
    if (offset.kind === 'seq' && offset.seq > info.headSeq) {
      throw new StateStreamError(ErrorCode.INVALID_OFFSET, `offset "${offsetText}" is beyond the end of the stream`)
    }
    if (live !== undefined) {
      if (live !== LIVE_MODE.longPoll && live !== LIVE_MODE.sse) {
        throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"live" must be "${LIVE_MODE.longPoll}" or "${LIVE_MODE.sse}"`)
      }
      if (offsetText === undefined) {
        throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'a live read needs an "offset"')
      }
    }
    // Every valid read, live ones included, restarts a Stream-TTL stream's expiry (HEAD does
    // not). In memory: the next group commit writes it.
    await store.touch(info.name)
    if (live !== undefined) {
      return options.liveRead(request, reply, info, live, offset.kind === 'now' ? 'now' : offset.seq)
    }
    reply.header('content-type', info.contentType)
    if (offset.kind === 'now') {
      if (info.closed) reply.header(HEADERS.streamClosed, 'true')
      reply.header(HEADERS.streamNextOffset, encodeOffset(info.headSeq)).header(HEADERS.streamUpToDate, 'true').header('cache-control', CACHE_NO_STORE)
      // The tail has no tag (it moves as the stream grows): only `*` makes it 304.
      if (notModified(request.headers['if-none-match'], undefined)) return reply.code(304).send()
      return reply.send(Buffer.from(isJsonStream(info) ? '[]' : ''))
    }
    const entries = await store.read((view) => view.readChunk(info, offset.seq, options.readChunkBytes, limit))
    const next = offsetAfter(entries, offset.seq)
    // A Buffer, so that Fastify sends the stream's own content type (no added charset).
    const rendered = renderEntries(info, entries)
    const body = typeof rendered === 'string' ? Buffer.from(rendered) : rendered
    // The range and a digest of its bytes: stream ids are reused after a delete, so ids and
    // offsets alone would let a re-created stream's reads match the old ones' tags.
    const digest = createHash('sha256').update(body).digest('base64url').slice(0, 22)
    const upToDate = Number(next) >= info.headSeq
    // A reader with everything of a closed stream has reached its end (§5.6).
    const closed = upToDate && info.closed
    // Up-to-dateness and closure are part of the answer a 304 stands for (a chunk may later stop
    // being the tail; a tail may later be the end).
    const etag = `"${encodeOffset(offset.seq)}:${next}:${digest}${upToDate ? ':u' : ''}${closed ? ':c' : ''}"`
    reply.header(HEADERS.streamNextOffset, next).header('etag', etag).header('cache-control', CACHE_CATCH_UP)
    if (upToDate) reply.header(HEADERS.streamUpToDate, 'true')
    if (closed) reply.header(HEADERS.streamClosed, 'true')
    if (notModified(request.headers['if-none-match'], etag)) return reply.code(304).send()
    return reply.send(body)
  })
}
