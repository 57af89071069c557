/**
 * The `/v1/live/<name>` tail of one state stream: the initial data (the open window, or the
 * entries after a resume point) and then every commit, on one SSE response. The multiplexed
 * `/v1/live?stream=…` is in `multi-tail.ts`.
 *
 * Hand-off: the tail subscribes (`LiveHub.hold`) before its last read of initial data, so what is
 * committed while that read runs is held, and then sent past what the read had (by seq): nothing
 * committed can fall between them or come twice, however long a read takes and whichever server
 * of a shared database committed it. A long catch-up is read in pages, waiting for the socket
 * between pages (backpressure), without subscribing; once a page reaches the head, the tail
 * subscribes and reads once more, which is then the last read.
 *
 * A closed stream ends its tail: once a reader has every entry, it gets `event: bound` with
 * `"closed":true` at the stream's last entry (the end of its last window), and nothing more of
 * that stream — the single-stream response ends there.
 */
import { ErrorCode } from '@statestream/common'
import type { Bound } from '@statestream/common'
import type { FastifyReply } from 'fastify'
import type { StreamStore } from '../stream-store.ts'
import type { StreamInfo } from '../stream-types.ts'
import { boundEvent, entryEvents, windowEventBytes } from './live-events.ts'
import type { HeldSubscription, LiveBatch, LiveHub } from './live-hub.ts'
import { MAX_BEHIND } from './open-windows.ts'
import type { OpenWindowEvent } from './open-windows.ts'
import type { SseConnection } from './sse-writer.ts'

/** Entries read per catch-up page. */
export const CATCH_UP_PAGE = 500

/**
 * Tails one state stream on `reply`. Without `after`: `event: window` with the open window, then
 * every entry. With `after` (a seq at most the head): the entries after it, then every entry.
 * The caller has checked that the stream exists, is a state stream and that `after` is valid.
 */
export async function tailStream(hub: LiveHub, store: StreamStore, reply: FastifyReply, info: StreamInfo, after?: number): Promise<void> {
  // A turn of its own for the response's head, and one for the initial data: a burst of readers
  // must not hold up commits.
  const connection = await hub.openSseInTurn(reply, true)
  if (connection === undefined) return
  hub.tick(connection, 'heartbeat')
  const name = info.name
  /** Once the initial data is sent up to seq `from` (and, for a closed stream, its end): the tail. */
  const follow = (held: HeldSubscription, from: number, end: Bound | undefined): void => {
    if (end !== undefined) {
      held.unsubscribe()
      connection.sendInitial(boundEvent(end, true))
      connection.end()
      return
    }
    let seen = from
    held.follow({
      streamId: info.id,
      append(batch: LiveBatch) {
        if (batch.lastSeq <= seen) return
        if (batch.firstSeq > seen + 1) {
          // Commits are told in order; never skip silently if that ever fails.
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
  }
  try {
    if (after !== undefined) return await catchUp(hub, store, connection, info, after, follow)
    await hub.turn()
    if (!connection.open) return
    const held = hold(hub, connection, info)
    const initial = await store.read((view) => {
      const current = view.get(name)
      // The open window, read (or reused, `OpenWindows`) in this same read, then the entries after
      // the seq it runs to, if any: all of it up to the head this read sees.
      // Reused only on an engine this process alone writes, whose reads all see one moment.
      const open: OpenWindowEvent = store.shared
        ? { event: windowEventBytes(view.window(name, { now: true }).body, current.headSeq), seq: current.headSeq, through: current.headSeq }
        : hub.windows.event(
            current,
            () => view.window(name, { now: true }).body,
            (since) => view.snapshotsBetween(current, since, current.headSeq).length === 0,
          )
      // The entries after the window: kept with it as their commits rendered them, else read.
      const since = open.through < current.headSeq ? view.entriesAfter(current, open.through, MAX_BEHIND) : []
      return { event: open.event, kept: open.since, since, head: current.headSeq, end: endOf(current) }
      // One snapshot: on a shared database the window must not run past the head read with it.
    }, { consistent: true })
    // What commits meanwhile is held, and sent after it.
    await hub.sendInitial(connection, initial.event)
    const since = initial.since.length > 0 ? entryEvents(initial.since, []) : initial.kept
    if (since !== undefined && connection.open) await hub.sendInitial(connection, since)
    if (!connection.open) return
    follow(held, initial.head, initial.end)
  } catch (error) {
    failInternal(connection, error)
  }
}

/** Subscribes `connection` to `info`'s commits ahead of its last read (released when it ends). */
export function hold(hub: LiveHub, connection: SseConnection, info: StreamInfo): HeldSubscription {
  const held = hub.hold(info.name, info.id)
  connection.onEnd(held.unsubscribe)
  return held
}

/** `hold` of several streams of one connection, their backlogs held in one queue (`LiveHub.holdAll`). */
export function holdAll(hub: LiveHub, connection: SseConnection, infos: readonly StreamInfo[]): HeldSubscription[] {
  const holds = hub.holdAll(infos.map((info) => ({ name: info.name, streamId: info.id })))
  for (const held of holds) connection.onEnd(held.unsubscribe)
  return holds
}

/** A closed stream's end (its last entry, or its creation), once a reader has all of it. */
export function endOf(info: StreamInfo): Bound | undefined {
  return info.closed ? { seq: info.headSeq, ts: info.headTs } : undefined
}

/** The response is already streaming: a failure can only be reported in-band. */
export function failInternal(connection: SseConnection, error: unknown): void {
  const code = (error as { code?: unknown }).code
  if (code === ErrorCode.STREAM_NOT_FOUND || code === ErrorCode.STREAM_DELETED) connection.fail(ErrorCode.STREAM_DELETED, (error as Error).message)
  else if (code === ErrorCode.SHUTTING_DOWN) connection.fail(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
  else if (code === ErrorCode.STORE_UNAVAILABLE) connection.fail(ErrorCode.STORE_UNAVAILABLE, 'the database does not answer; reconnect')
  else connection.fail(ErrorCode.INTERNAL, 'internal error')
}

/**
 * Sends the entries (and bounds) of `info` after `after`, page by page; once a page reaches the
 * head, subscribes, reads once more, and calls `follow` with the last seq sent.
 */
async function catchUp(
  hub: LiveHub,
  store: StreamStore,
  connection: SseConnection,
  info: StreamInfo,
  after: number,
  follow: (held: HeldSubscription, seen: number, end: Bound | undefined) => void,
): Promise<void> {
  let seen = after
  let held: HeldSubscription | undefined
  for (let first = true; ; first = false) {
    if (!connection.open) return
    const from = seen
    const page = await store.read((view) => {
      const current = view.find(info.name)
      if (current === undefined || current.id !== info.id) return undefined
      // A reader cut between an entry and its bound resumes after that entry: send the bound again
      // (readers take a bound they already hold as a no-op), so a window never stays open by mistake.
      const resumeBound = first && after > 0 ? view.liveBoundsBetween(current, after - 1, after)[0] : undefined
      const entries = view.entriesAfter(current, from, CATCH_UP_PAGE)
      const last = entries[entries.length - 1]
      const bounds = last === undefined ? [] : view.liveBoundsBetween(current, from, last.seq)
      return { current, entries, bounds, resumeBound }
    })
    if (page === undefined) {
      connection.fail(ErrorCode.STREAM_DELETED, `stream "${info.name}" was deleted`)
      return
    }
    if (page.resumeBound !== undefined) connection.sendInitial(boundEvent(page.resumeBound))
    const last = page.entries[page.entries.length - 1]
    if (last !== undefined) {
      await hub.sendInitial(connection, entryEvents(page.entries, page.bounds))
      if (!connection.open) return
      seen = last.seq
    }
    if (page.entries.length < CATCH_UP_PAGE) {
      // At the head: subscribe, and read once more for what was committed since this read.
      if (held !== undefined) return follow(held, seen, seen >= page.current.headSeq ? endOf(page.current) : undefined)
      held = hold(hub, connection, info)
      continue
    }
    // Let the socket take this page before reading the next: memory stays one page deep.
    if (!(await connection.writable())) return
  }
}
