/**
 * The history extension of state streams: `/v1/window`, `/v1/windows` and `/v1/state`. Closed
 * windows never change, so they are served with a strong ETag and an immutable cache lifetime.
 */
import { CACHE_IMMUTABLE, CACHE_NO_STORE, ErrorCode, QUERY, ROUTES, StateStreamError, parseJson, stringifyJson } from '@statestream/common'
import { createHash } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { installSecurityHeaders } from '../http-errors.ts'
import { intParam, pointParam, streamName } from '../params.ts'
import type { StreamStore } from '../stream-store.ts'
import { notModified } from './not-modified.ts'

const JSON_TYPE = 'application/json; charset=utf-8'

export async function historyRoutes(app: FastifyInstance, options: { store: StreamStore }): Promise<void> {
  const { store } = options
  installSecurityHeaders(app)

  app.get(`${ROUTES.window}*`, async (request, reply) => {
    const name = streamName(request.params)
    const query = request.query as Record<string, unknown>
    const point = pointParam(query)
    if (point === undefined) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give "at" (a ts or "now") or "seq"')
    const after = intParam(query, QUERY.after)
    const condition = request.headers['if-none-match']
    if (condition !== undefined) {
      // A conditional request for a closed window is answered from its identity alone: a 304
      // reads no entries (the tag is the one the full answer below carries).
      const identity = await store.windowIdentity(name, point, after)
      const etag = identity === null ? undefined : `"w${identity}"`
      if (etag !== undefined && notModified(condition, etag)) {
        await store.touch(name)
        return reply.code(304).header('content-type', JSON_TYPE).header('etag', etag).header('cache-control', CACHE_IMMUTABLE).send()
      }
    }
    const window = await store.window(name, point, after)
    // A read that was answered restarts a Stream-TTL expiry (in memory: reads write nothing).
    await store.touch(name)
    reply.header('content-type', JSON_TYPE)
    if (!window.closed) {
      reply.header('cache-control', CACHE_NO_STORE)
      // The open window has no tag (it changes as entries arrive), so only `*` — "any current
      // representation" — makes it 304.
      return notModified(condition, undefined) ? reply.code(304).send() : reply.send(window.body)
    }
    // Stream ids are reused after a delete, so a tag built from ids and seqs alone would let a
    // re-created stream's windows match the old ones' tags: the tag is the body's identity (built
    // on a global position, never reused), or else a digest of the body (which is then small).
    const etag =
      window.identity !== null
        ? `"w${window.identity}"`
        : `"w${createHash('sha256').update(window.body).digest('base64url').slice(0, 27)}"`
    reply.header('etag', etag).header('cache-control', CACHE_IMMUTABLE)
    if (notModified(condition, etag)) return reply.code(304).send()
    return reply.send(window.body)
  })

  app.get(`${ROUTES.windows}*`, async (request, reply) => {
    const name = streamName(request.params)
    const query = request.query as Record<string, unknown>
    const from = intParam(query, QUERY.from) ?? 0
    const to = intParam(query, QUERY.to) ?? Number.MAX_SAFE_INTEGER
    if (from > to) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, '"from" is after "to"')
    const windows = await store.windows(name, from, to)
    await store.touch(name)
    return reply
      .header('content-type', JSON_TYPE)
      .header('cache-control', CACHE_NO_STORE)
      .send(JSON.stringify({ stream: name, windows }))
  })

  app.get(`${ROUTES.state}*`, async (request, reply) => {
    const name = streamName(request.params)
    const query = request.query as Record<string, unknown>
    const gpos = intParam(query, QUERY.gpos)
    const point = pointParam(query)
    if (gpos !== undefined && point !== undefined) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give "at", "seq" or "gpos", not two of them')
    const answer =
      gpos !== undefined ? await store.stateAtGpos(name, gpos) : point === undefined || 'now' in point ? await store.headState(name) : await store.state(name, point)
    await store.touch(name)
    // The state may be older than the depth limit, and deeper than JSON.stringify goes.
    return reply.header('content-type', JSON_TYPE).header('cache-control', CACHE_NO_STORE).send(stringifyJson(answer))
  })

  app.put(`${ROUTES.state}*`, async (request, reply) => {
    const name = streamName(request.params)
    const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
    if (body.length === 0) throw new StateStreamError(ErrorCode.EMPTY_BODY, 'PUT /v1/state needs the full state as a JSON body')
    const result = await store.setState(name, parseJson(body.toString('utf8')))
    return reply.header('content-type', JSON_TYPE).send(JSON.stringify(result))
  })
}
