/**
 * The `/v1/live` tails of state streams: the initial data (the open window, or the entries after
 * a resume point) and then every commit, on one SSE response.
 *
 * Hand-off: the last read of initial data and the subscription happen in the same synchronous
 * turn, and commits notify their listeners synchronously, so nothing committed can fall between
 * them. A long catch-up is read in pages, waiting for the socket between pages (backpressure); the
 * final page is the one that reaches the head, and the subscription follows it in its turn.
 *
 * A closed stream ends its tail: once a reader has every entry, it gets `event: bound` with
 * `"closed":true` at the stream's last entry (the end of its last window), and nothing more of
 * that stream — the single-stream response ends there.
 */
import { ErrorCode, LIVE_RESUME_MAX_ENTRIES, StateStreamError } from '@statestream/common'
import type { Bound } from '@statestream/common'
import type { FastifyReply } from 'fastify'
import type { StreamStore } from '../stream-store.ts'
import type { StoredEntry, StreamInfo } from '../stream-types.ts'
import { boundEvent, clockEvent, entryEvents, multiBoundEvent, multiEntryEvent, windowEvent } from './live-events.ts'
import type { LiveBatch, LiveHub } from './live-hub.ts'
import { MAX_BEHIND } from './open-windows.ts'
import type { OpenWindows } from './open-windows.ts'
import type { SseConnection } from './sse-writer.ts'

/** Entries read per catch-up page. */
const CATCH_UP_PAGE = 500

/**
 * Tails one state stream on `reply`. Without `after`: `event: window` with the open window, then
 * every entry. With `after` (a seq at most the head): the entries after it, then every entry.
 * The caller has checked that the stream exists, is a state stream and that `after` is valid.
 */
export async function tailStream(hub: LiveHub, store: StreamStore, reply: FastifyReply, name: string, after?: number): Promise<void> {
  const connection = hub.openSse(reply, true)
  hub.tick(connection, 'heartbeat')
  const info = store.get(name)
  // Called in the same turn as the last read of initial data: nothing can fall in between.
  const follow = (from: number): void => {
    let seen = from
    const current = store.find(name)
    if (current?.closed) {
      connection.sendInitial(boundEvent({ seq: current.headSeq, ts: current.headTs }, true))
      connection.end()
      return
    }
    const unsubscribe = hub.subscribe(name, {
      append(batch: LiveBatch) {
        if (batch.lastSeq <= seen) return
        if (batch.firstSeq > seen + 1) {
          // Cannot happen while commits notify in order; never skip silently if it ever does.
          connection.fail(ErrorCode.SLOW_READER, `entries after ${seen} were missed; resume from the last id`)
          return
        }
        const chunk = batch.single(seen)
        seen = batch.lastSeq
        connection.send(chunk)
      },
      closed(_info: StreamInfo, bound: Bound) {
        if (connection.send(boundEvent(bound, true))) connection.end()
      },
      deleted() {
        connection.fail(ErrorCode.STREAM_DELETED, `stream "${name}" was deleted`)
      },
    })
    connection.onEnd(unsubscribe)
  }
  try {
    // A turn of its own for the initial data (a burst of readers must not hold up commits).
    await hub.turn()
    if (!connection.open) return
    if (after !== undefined) return await catchUp(store, connection, info, after, follow)
    // The open window, read (or reused, `OpenWindows`) in this same turn, then the entries after
    // the seq it runs to, if any: all of it up to the head.
    const current = store.get(name)
    const open = hub.windows.event(
      current,
      () => store.history.window(name, { now: true }).body,
      (since) => store.snapshotsBetween(current, since, current.headSeq).length === 0,
    )
    connection.sendInitial(open.event)
    const since = open.seq < current.headSeq ? store.entriesAfter(current, open.seq, MAX_BEHIND) : []
    if (since.length > 0) connection.sendInitial(entryEvents(since, []))
    follow(current.headSeq)
  } catch (error) {
    failInternal(connection, error)
  }
}

/** The response is already streaming: a failure can only be reported in-band. */
function failInternal(connection: SseConnection, error: unknown): void {
  const code = (error as { code?: unknown }).code
  if (code === ErrorCode.STREAM_NOT_FOUND) connection.fail(ErrorCode.STREAM_DELETED, (error as Error).message)
  else if (code === ErrorCode.SHUTTING_DOWN) connection.fail(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
  else connection.fail(ErrorCode.INTERNAL, 'internal error')
}

/**
 * Sends the entries (and bounds) of `info` after `after`, page by page; once at the head calls
 * `follow` with the last seq sent, in the turn of the last read. Stops if the connection ends.
 */
async function catchUp(
  store: StreamStore,
  connection: SseConnection,
  info: StreamInfo,
  after: number,
  follow: (seen: number) => void,
): Promise<void> {
  let seen = after
  // A reader cut between an entry and its bound resumes after that entry: send the bound again
  // (readers take a bound they already hold as a no-op), so a window never stays open by mistake.
  const closedAtResume = after > 0 ? store.snapshotsBetween(info, after - 1, after)[0] : undefined
  if (closedAtResume !== undefined) connection.sendInitial(boundEvent(closedAtResume))
  for (;;) {
    if (!connection.open) return
    const current = store.find(info.name)
    if (current === undefined || current.id !== info.id) {
      connection.fail(ErrorCode.STREAM_DELETED, `stream "${info.name}" was deleted`)
      return
    }
    const page = store.entriesAfter(current, seen, CATCH_UP_PAGE)
    const last = page[page.length - 1]
    if (last !== undefined) {
      connection.sendInitial(entryEvents(page, store.snapshotsBetween(current, seen, last.seq)))
      seen = last.seq
    }
    if (page.length < CATCH_UP_PAGE) return follow(seen)
    // Let the socket take this page before reading the next: memory stays one page deep.
    if (!(await connection.writable())) return
  }
}

/**
 * Tails several state streams on one `reply`, in gpos order. With `afterGpos` (the whole
 * connection resumes): every entry of those streams after that gpos, merged in gpos order.
 * Without: the catch-up of each stream in `held` (a reader holding it up to a seq: see
 * `openMany`), then one `event: window` per other stream (id: the gpos they were read at). Then
 * every entry, and clock ticks.
 */
export async function tailStreams(
  hub: LiveHub,
  store: StreamStore,
  reply: FastifyReply,
  names: readonly string[],
  afterGpos?: number,
  held: ReadonlyMap<string, number> = new Map(),
): Promise<void> {
  const connection = hub.openSse(reply, true)
  let infos: StreamInfo[] = names.map((name) => store.get(name))
  // Called in the same turn as the last read of initial data: nothing can fall in between.
  const follow = (from: number): void => {
    let seen = from
    // Streams still open: once the last of them is closed, the connection has nothing more to say.
    let open = 0
    const closedBound = (info: StreamInfo, bound: Bound): string => multiBoundEvent(JSON.stringify(info.name), bound, undefined, true)
    const ended: string[] = []
    for (const info of infos) {
      const current = store.find(info.name)
      if (current?.closed) {
        ended.push(closedBound(current, { seq: current.headSeq, ts: current.headTs }))
        continue
      }
      open += 1
      const unsubscribe = hub.subscribe(info.name, {
        append(batch: LiveBatch) {
          if (batch.lastGpos <= seen) return
          const chunk = batch.multi(seen)
          seen = batch.lastGpos
          connection.send(chunk)
        },
        closed(closing: StreamInfo, bound: Bound) {
          unsubscribe()
          open -= 1
          if (connection.send(closedBound(closing, bound)) && open === 0) connection.end()
        },
        deleted() {
          connection.fail(ErrorCode.STREAM_DELETED, `stream "${info.name}" was deleted`)
        },
      })
      connection.onEnd(unsubscribe)
    }
    if (ended.length > 0) connection.sendInitial(ended.join(''))
    if (open === 0) return connection.end()
    // Only now is everything up to the store's gpos sent: the clock may start.
    hub.tick(connection, 'clock')
  }
  try {
    // A turn of its own for the initial data (a burst of readers must not hold up commits).
    await hub.turn()
    if (!connection.open) return
    // As they are now, in this turn (a stream deleted meanwhile ends the connection).
    const current = names.map((name) => store.get(name))
    current.forEach((info, i) => {
      if (info.id !== (infos[i] as StreamInfo).id) throw new StateStreamError(ErrorCode.STREAM_NOT_FOUND, `stream "${info.name}" was deleted`)
    })
    infos = current
    if (afterGpos !== undefined) return await catchUpMany(store, connection, infos, afterGpos, follow)
    const at = store.gpos
    connection.sendInitial(openMany(store, hub.windows, infos, held, at))
    follow(at)
  } catch (error) {
    failInternal(connection, error)
  }
}

/**
 * The initial data of a multiplexed connection that does not resume by gpos, read in one
 * synchronous turn at gpos `at`. A stream in `held` (the reader holds it up to that seq) gets no
 * window: its entries after the seq (the bound at the seq first when a snapshot is exactly there,
 * as a single-stream resume does), all such streams merged in gpos order; one further than
 * `LIVE_RESUME_MAX_ENTRIES` behind gets its open window, which the reader's store joins to what it
 * holds. Then the windows of the other streams (id: `at`). When any stream was held, a clock tick
 * at `at` closes the initial data: the reader learns the gpos its held states are current at,
 * which no window told it.
 */
function openMany(store: StreamStore, open: OpenWindows, infos: readonly StreamInfo[], held: ReadonlyMap<string, number>, at: number): string {
  const caughtUp: Array<{ gpos: number; text: string }> = []
  const windows: StreamInfo[] = []
  for (const info of infos) {
    const after = held.get(info.name)
    // One over the limit tells "more than the limit" without reading the rest.
    const entries = after === undefined ? [] : store.entriesAfter(info, after, LIVE_RESUME_MAX_ENTRIES + 1)
    if (after === undefined || entries.length > LIVE_RESUME_MAX_ENTRIES) {
      windows.push(info)
      continue
    }
    const name = JSON.stringify(info.name)
    // A reader cut between an entry and its bound holds the entry but may not know the bound.
    const closedAtResume = after > 0 ? store.snapshotsBetween(info, after - 1, after)[0] : undefined
    const atResume = closedAtResume === undefined ? undefined : store.entriesAfter(info, after - 1, 1)[0]
    if (closedAtResume !== undefined && atResume !== undefined) {
      caughtUp.push({ gpos: atResume.gpos, text: multiBoundEvent(name, closedAtResume, atResume.gpos) })
    }
    const last = entries[entries.length - 1]
    if (last === undefined) continue
    const closing = new Set(store.snapshotsBetween(info, after, last.seq).map((bound: Bound) => bound.seq))
    for (const entry of entries) caughtUp.push({ gpos: entry.gpos, text: multiEntryEvent(name, entry, closing.has(entry.seq)) })
  }
  // Each stream's items are already in gpos order, and gposes are unique across streams.
  caughtUp.sort((a, b) => a.gpos - b.gpos)
  let text = caughtUp.map((item) => item.text).join('')
  text += windows.map((info) => windowEvent(open.body(info, () => store.history.window(info.name, { now: true }).body), at)).join('')
  if (held.size > 0) text += clockEvent(at, store.now())
  return text
}

/**
 * Sends the entries of `infos` after `afterGpos` merged in gpos order, page by page; once at the
 * head calls `follow` with the gpos everything up to has been sent, in the turn of the last read.
 */
async function catchUpMany(
  store: StreamStore,
  connection: SseConnection,
  infos: readonly StreamInfo[],
  afterGpos: number,
  follow: (seen: number) => void,
): Promise<void> {
  let seen = afterGpos
  // A reader cut between an entry and its bound resumes after that entry: send each stream's bound
  // at the resume point again (readers take a bound they hold as a no-op). It carries no id: the
  // reader's place in the gpos order is already past it.
  const resumeBounds = infos.flatMap((info) => {
    const seq = store.seqAtGpos(info, afterGpos)
    const bound = seq > 0 ? store.snapshotsBetween(info, seq - 1, seq)[0] : undefined
    return bound === undefined ? [] : [multiBoundEvent(JSON.stringify(info.name), bound)]
  })
  if (resumeBounds.length > 0) connection.sendInitial(resumeBounds.join(''))
  for (;;) {
    if (!connection.open) return
    const currents: StreamInfo[] = []
    for (const info of infos) {
      const current = store.find(info.name)
      if (current === undefined || current.id !== info.id) {
        connection.fail(ErrorCode.STREAM_DELETED, `stream "${info.name}" was deleted`)
        return
      }
      currents.push(current)
    }
    const pages = currents.map((info) => store.entriesAfterGpos(info, seen, CATCH_UP_PAGE))
    // A full page may have more after it: the merge is complete only up to the lowest last gpos
    // of the full pages.
    let limit = Number.POSITIVE_INFINITY
    for (const page of pages) {
      const last = page[page.length - 1]
      if (page.length === CATCH_UP_PAGE && last !== undefined) limit = Math.min(limit, last.gpos)
    }
    const merged: Array<{ info: StreamInfo; entry: StoredEntry; closes: boolean }> = []
    pages.forEach((page, i) => {
      const info = currents[i] as StreamInfo
      const taken = page.filter((entry) => entry.gpos <= limit)
      const first = taken[0]
      const last = taken[taken.length - 1]
      if (first === undefined || last === undefined) return
      const closing = new Set(store.snapshotsBetween(info, first.seq - 1, last.seq).map((bound: Bound) => bound.seq))
      for (const entry of taken) merged.push({ info, entry, closes: closing.has(entry.seq) })
    })
    merged.sort((a, b) => a.entry.gpos - b.entry.gpos)
    if (merged.length > 0) {
      connection.sendInitial(
        merged.map(({ info, entry, closes }) => multiEntryEvent(JSON.stringify(info.name), entry, closes)).join(''),
      )
    }
    if (limit === Number.POSITIVE_INFINITY) {
      // At the head of every stream, in this turn: everything of theirs up to the store's gpos is sent.
      return follow(Math.max(seen, store.gpos))
    }
    seen = limit
    if (!(await connection.writable())) return
  }
}
