/**
 * The Durable Streams live modes of `/v1/stream/<name>` (protocol §5.6, §5.7): `live=long-poll`
 * answers as soon as there is data after the offset (or 204 after the timeout), `live=sse` sends
 * `data` events, each followed by a `control` event with the next offset and cursor. Both serve
 * plain and state streams alike; entries render as on catch-up reads (`log-format.ts`).
 */
import { CACHE_NO_STORE, ErrorCode, HEADERS, QUERY, StateStreamError, encodeOffset } from '@statestream/common'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { sendError } from '../http-errors.ts'
import { renderEntries } from '../log-format.ts'
import { single } from '../params.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StoredEntry, StreamInfo } from '../stream-types.ts'
import { liveCursor } from './cursor.ts'
import { controlEvent } from './live-events.ts'
import { dataEvent, sseEncoding } from './live-hub.ts'
import type { HeldSubscription, LiveBatch, LiveHub } from './live-hub.ts'
import type { SseConnection } from './sse-writer.ts'

/** Long-poll answers with data may be cached briefly, keyed by offset and cursor (protocol §8.1). */
const CACHE_LONG_POLL = 'public, max-age=60, stale-while-revalidate=300'

/** Serves a live read of `/v1/stream/<name>`; `after` is the seq the offset names, or `now`. */
export function streamLiveRead(
  hub: LiveHub,
  store: StreamStore,
  readChunkBytes: number,
  request: FastifyRequest,
  reply: FastifyReply,
  info: StreamInfo,
  mode: string,
  after: number | 'now',
): Promise<FastifyReply> | FastifyReply {
  if (hub.closing) throw new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
  const clientCursor = single(request.query as Record<string, unknown>, QUERY.cursor)
  const seq = after === 'now' ? info.headSeq : after
  if (mode === 'sse') {
    sse(hub, store, readChunkBytes, reply, info, seq, clientCursor)
    return reply
  }
  return longPoll(hub, store, readChunkBytes, reply, info, seq, clientCursor)
}

async function longPoll(
  hub: LiveHub,
  store: StreamStore,
  readChunkBytes: number,
  reply: FastifyReply,
  info: StreamInfo,
  seq: number,
  clientCursor: string | undefined,
): Promise<FastifyReply> {
  const cursor = (): string => liveCursor(store.now(), clientCursor)
  const sendData = (entries: readonly StoredEntry[], body: string | Buffer, current: StreamInfo): FastifyReply => {
    const next = encodeOffset(entries[entries.length - 1]?.seq ?? seq)
    const atTail = Number(next) >= current.headSeq
    const closed = atTail && current.closed
    reply
      .header('content-type', current.contentType)
      .header(HEADERS.streamNextOffset, next)
      .header(HEADERS.etag, `"${current.id}:${encodeOffset(seq)}:${next}${closed ? ':c' : ''}"`)
      .header(HEADERS.cacheControl, CACHE_LONG_POLL)
    if (atTail) reply.header(HEADERS.streamUpToDate, 'true')
    // No cursor once nothing more will come: a reader must not poll again.
    if (closed) reply.header(HEADERS.streamClosed, 'true')
    else reply.header(HEADERS.streamCursor, cursor())
    return reply.send(body)
  }
  /** The 204 of a long-poll with nothing (more) to read. */
  const sendEmpty = (current: StreamInfo): FastifyReply => {
    reply
      .code(204)
      .header(HEADERS.streamNextOffset, encodeOffset(current.headSeq))
      .header(HEADERS.streamUpToDate, 'true')
      .header(HEADERS.cacheControl, CACHE_NO_STORE)
    if (current.closed) reply.header(HEADERS.streamClosed, 'true')
    else reply.header(HEADERS.streamCursor, cursor())
    return reply.send()
  }
  /** Data after `seq` now, if there is: an answer like a catch-up read's, with a cursor. */
  const readNow = (current: StreamInfo): Promise<FastifyReply> =>
    store.read((view) => view.readChunk(current, seq, readChunkBytes)).then((entries) => sendData(entries, renderEntries(current, entries), current))
  // Data is already there (a fork's inherited data too).
  if (seq < info.headSeq) return readNow(info)
  // At the tail of a closed stream: the end, at once (protocol §5.7).
  if (info.closed) return sendEmpty(info)
  // Counted against the token's live connections while it waits (throws before waiting).
  const release = hub.admission.admit(reply.request)
  // Subscribed first, then the head read again: an append committed since `info` was read is
  // either in that read or told to the subscription.
  const held = hub.hold(info.name, info.id)
  let current: StreamInfo | undefined
  try {
    current = await store.find(info.name)
  } catch (error) {
    held.unsubscribe()
    release()
    throw error
  }
  if (current === undefined || current.id !== info.id || current.headSeq > seq || current.closed) {
    held.unsubscribe()
    release()
    if (current === undefined || current.id !== info.id) throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `stream "${info.name}" was deleted`)
    return current.headSeq > seq ? readNow(current) : sendEmpty(current)
  }
  // The wait ends by the token's expiry at the latest: the next request must show a fresh one.
  const wait = Math.min(hub.options.longPollTimeoutMs, hub.admission.untilExpiry(reply.request) ?? Number.POSITIVE_INFINITY)
  return new Promise<FastifyReply>((resolve) => {
    let settled = false
    // Assigned below, before the subscription can settle the poll.
    let untrack = (): void => {}
    const settle = (respond: () => FastifyReply | Promise<FastifyReply>): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      held.unsubscribe()
      untrack()
      release()
      reply.raw.off('close', aborted)
      resolve(respond())
    }
    // Nothing can be sent to a client that left; hijack so Fastify does not try either.
    const aborted = (): void => settle(() => reply.hijack())
    const timer = setTimeout(
      () =>
        settle(async () => {
          const found = await store.find(info.name)
          // Committed after the wait ran out but before this read (a read that waits on a database):
          // answered, never passed over by the offset the empty answer would give.
          if (found !== undefined && found.id === info.id && found.headSeq > seq) return readNow(found)
          return sendEmpty(found ?? info)
        }),
      wait,
    )
    untrack = hub.track({
      shutdown: async () =>
        settle(() => sendError(reply, new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down'))),
    })
    // A client that gives up must release its waiter and timer at once.
    reply.raw.on('close', aborted)
    // Last: what was committed while the head was read again may settle the poll at once.
    held.follow({
      streamId: info.id,
      append(batch: LiveBatch) {
        if (batch.lastSeq <= seq) return
        settle(() => {
          if (batch.firstSeq === seq + 1) {
            // The usual case: exactly this commit's entries, rendered once for every waiter.
            return sendData(batch.entries, batch.body(), batch.stream)
          }
          return store.find(info.name).then((found) => readNow(found ?? batch.stream))
        })
      },
      closed(current: StreamInfo) {
        // Closed without more entries (those closed with it came first and answered already).
        settle(() => sendEmpty(current))
      },
      deleted() {
        settle(() => sendError(reply, new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `stream "${info.name}" was deleted`)))
      },
    })
  })
}

function sse(
  hub: LiveHub,
  store: StreamStore,
  readChunkBytes: number,
  reply: FastifyReply,
  info: StreamInfo,
  from: number,
  clientCursor: string | undefined,
): void {
  const base64 = sseEncoding(info) === 'base64'
  const connection = hub.openSse(reply, false, base64 ? { [HEADERS.sseDataEncoding]: 'base64' } : {})
  hub.tick(connection, 'keepalive')
  // One cursor per connection, never going backwards while it lasts.
  const base = Number(liveCursor(store.now(), clientCursor))
  const cursor = (): string => String(Math.max(base, Number(liveCursor(store.now()))))
  const maxAge = setTimeout(() => connection.end(), hub.options.sseMaxMs)
  connection.onEnd(() => clearTimeout(maxAge))

  follow(hub, store, readChunkBytes, connection, info, from, cursor).catch(() => connection.end())
}

/**
 * Sends the catch-up in chunks (waiting for the socket between them); once a chunk reaches the
 * head, subscribes and reads once more, then sends the live batches.
 */
async function follow(
  hub: LiveHub,
  store: StreamStore,
  readChunkBytes: number,
  connection: SseConnection,
  info: StreamInfo,
  from: number,
  cursor: () => string,
): Promise<void> {
  let seen = from
  let first = true
  let held: HeldSubscription | undefined
  for (;;) {
    if (!connection.open) return
    const after = seen
    const read = await store.read((view) => {
      const current = view.find(info.name)
      if (current === undefined || current.id !== info.id) return undefined
      return { current, entries: view.readChunk(current, after, readChunkBytes) }
    })
    if (read === undefined) return connection.end()
    const { current, entries } = read
    const last = entries[entries.length - 1]
    if (last !== undefined) seen = last.seq
    const upToDate = seen >= current.headSeq
    const closed = upToDate && current.closed
    // Each control event says whether its chunk reached the head; with nothing to catch up, the
    // first one still tells the reader where the tail is.
    if (last !== undefined) connection.sendInitial(dataEvent(current, entries))
    if (last !== undefined || first) connection.sendInitial(controlEvent(encodeOffset(seen), cursor(), upToDate, closed))
    first = false
    // Everything of a closed stream is sent: the end (the reader must not reconnect).
    if (closed) return connection.end()
    if (upToDate) {
      if (held !== undefined) break
      // At the head: subscribe, and read once more for what was committed since this read.
      held = hub.hold(info.name, info.id)
      connection.onEnd(held.unsubscribe)
      continue
    }
    if (!(await connection.writable())) return
  }

  held.follow({
    streamId: info.id,
    append(batch: LiveBatch) {
      if (batch.lastSeq <= seen) return
      if (batch.firstSeq > seen + 1) {
        // Commits are told in order; end rather than skip if that ever fails, the reader resumes.
        connection.end()
        return
      }
      const data = batch.data(seen)
      seen = batch.lastSeq
      // The stream may have been closed with these entries: then they are the last.
      const closed = batch.stream.closed && seen >= batch.stream.headSeq
      if (connection.send(data)) connection.send(controlEvent(encodeOffset(seen), cursor(), seen >= batch.stream.headSeq, closed))
      if (closed) connection.end()
    },
    closed() {
      connection.send(controlEvent(encodeOffset(seen), cursor(), true, true))
      connection.end()
    },
    deleted() {
      // The protocol has no in-band error: end, and the reader's next request gets 404.
      connection.end()
    },
  })
}
