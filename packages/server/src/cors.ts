/**
 * CORS for browsers on other origins (via `@fastify/cors`): which origins may call, which request
 * headers they may send (the protocol's, `If-None-Match`, `Last-Event-ID`, `Authorization`, the
 * producer headers) and which response headers their scripts may read (the protocol's offsets,
 * cursors, closure, producer echoes, ETags).
 *
 * Preflights are answered in the plugin's first `onRequest` hook, before any hook registered after
 * it (access control included) runs: a browser sends no `Authorization` on a preflight, and must
 * still get its answer.
 */
import fastifyCors from '@fastify/cors'
import { HEADERS } from '@statestream/common'
import type { FastifyInstance } from 'fastify'

/** Which origins may call: every one (`*`, the default), a list of exact origins, or none (`false`: no CORS headers at all). */
export type CorsOrigins = '*' | readonly string[] | false

/** Request headers a cross-origin caller may send. */
const ALLOWED_HEADERS = [
  HEADERS.contentType,
  HEADERS.ifNoneMatch,
  HEADERS.lastEventId,
  'authorization',
  HEADERS.producerId,
  HEADERS.producerEpoch,
  HEADERS.producerSeq,
  HEADERS.streamSeq,
  HEADERS.streamTtl,
  HEADERS.streamExpiresAt,
  HEADERS.streamClosed,
  HEADERS.streamCreatedAt,
  HEADERS.streamKind,
  HEADERS.snapshotEntries,
  HEADERS.snapshotBytes,
  HEADERS.snapshotMs,
  HEADERS.forkedFrom,
  HEADERS.forkOffset,
  HEADERS.forkSubOffset,
  HEADERS.forkAt,
]

/** Response headers a cross-origin script may read. */
const EXPOSED_HEADERS = [
  HEADERS.streamNextOffset,
  HEADERS.streamUpToDate,
  HEADERS.streamCursor,
  HEADERS.streamClosed,
  HEADERS.streamTtl,
  HEADERS.streamExpiresAt,
  HEADERS.streamKind,
  HEADERS.snapshotEntries,
  HEADERS.snapshotBytes,
  HEADERS.snapshotMs,
  HEADERS.sseDataEncoding,
  HEADERS.producerEpoch,
  HEADERS.producerSeq,
  HEADERS.producerExpectedSeq,
  HEADERS.producerReceivedSeq,
  HEADERS.etag,
  HEADERS.location,
  HEADERS.retryAfter,
]

/** How long a browser may cache a preflight answer, in seconds. */
const PREFLIGHT_MAX_AGE_S = 86_400

/** Registers CORS on `app`'s routes (nothing with `origins: false`). */
export async function installCors(app: FastifyInstance, origins: CorsOrigins): Promise<void> {
  if (origins === false) return
  await app.register(fastifyCors, {
    origin: origins === '*' ? '*' : [...origins],
    methods: ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'],
    allowedHeaders: ALLOWED_HEADERS,
    exposedHeaders: EXPOSED_HEADERS,
    maxAge: PREFLIGHT_MAX_AGE_S,
    // Bearer tokens travel in a header, never in cookies: no credentialed requests.
    credentials: false,
    // An OPTIONS without a preflight's headers is answered like a preflight (204), not with the
    // library's plain-text 400, which is outside the wire error contract.
    strictPreflight: false,
  })
}
