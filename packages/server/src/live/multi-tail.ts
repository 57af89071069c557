/**
 * The multiplexed `/v1/live?stream=…` tail: several state streams on one SSE response, in gpos
 * order, with clock ticks. The initial data is read in one consistent read (every stream at one
 * gpos, `at`); the tail subscribes to each stream before that read (`LiveHub.hold`) and sends
 * only what comes after `at`. A resume by gpos reads pages, merged in gpos order, then subscribes
 * and reads once more, as the single-stream tail does (`state-tail.ts`).
 *
 * Clock ticks claim that everything up to their gpos has been sent, so they start only once the
 * server's own position (on a shared database, what its feed has told) has reached the gpos the
 * initial data was read at.
 */
import { ErrorCode, LIVE_RESUME_MAX_ENTRIES } from '@statestream/common'
import type { Bound } from '@statestream/common'
import type { FastifyReply } from 'fastify'
import type { StoreView } from '../store-view.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StoredEntry, StreamInfo } from '../stream-types.ts'
import { clockEvent, multiBoundEvent, multiEntryEvent, windowEvent } from './live-events.ts'
import type { HeldSubscription, LiveBatch, LiveHub } from './live-hub.ts'
import type { OpenWindows } from './open-windows.ts'
import type { SseConnection } from './sse-writer.ts'
import { CATCH_UP_PAGE, endOf, failInternal, holdAll } from './state-tail.ts'

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
  infos: readonly StreamInfo[],
  afterGpos?: number,
  held: ReadonlyMap<string, number> = new Map(),
): Promise<void> {
  // A turn of its own for the response's head, and one for the initial data (see `tailStream`).
  const connection = await hub.openSseInTurn(reply, true)
  if (connection === undefined) return
  /** Once the initial data is sent up to gpos `from`: the tail (each stream closed by then ends at once). */
  const follow = (holds: readonly HeldSubscription[], from: number, currents: ReadonlyArray<StreamInfo | undefined>): void => {
    let seen = from
    // Streams still open: once the last of them is closed, the connection has nothing more to say.
    let open = 0
    const closedBound = (info: StreamInfo, bound: Bound): string => multiBoundEvent(JSON.stringify(info.name), bound, undefined, true)
    const ended: string[] = []
    infos.forEach((info, i) => {
      const subscription = holds[i] as HeldSubscription
      const current = currents[i]
      const end = current === undefined ? undefined : endOf(current)
      if (current !== undefined && end !== undefined) {
        subscription.unsubscribe()
        ended.push(closedBound(current, end))
        return
      }
      open += 1
      subscription.follow({
        streamId: info.id,
        append(batch: LiveBatch) {
          if (batch.lastGpos <= seen) return
          const chunk = batch.multi(seen)
          seen = batch.lastGpos
          connection.send(chunk)
        },
        closed(closing: StreamInfo, bound: Bound) {
          subscription.unsubscribe()
          open -= 1
          if (connection.send(closedBound(closing, bound)) && open === 0) connection.end()
        },
        deleted() {
          connection.fail(ErrorCode.STREAM_DELETED, `stream "${info.name}" was deleted`)
        },
      })
    })
    if (ended.length > 0) connection.sendInitial(ended.join(''))
    if (open === 0) return connection.end()
    // Only once this server has told everything up to `from` may its clock speak for the connection.
    void store.reached(from).then(() => hub.tick(connection, 'clock'))
  }
  try {
    await hub.turn()
    if (!connection.open) return
    if (afterGpos !== undefined) return await catchUpMany(hub, store, connection, infos, afterGpos, follow)
    const holds = holdAll(hub, connection, infos)
    const initial = await store.read(
      (view) => {
        const at = view.gpos
        return { at, text: openMany(view, store.shared ? undefined : hub.windows, infos, held, at, store.now()), currents: infos.map((info) => view.find(info.name)) }
      },
      { consistent: true },
    )
    await hub.sendInitial(connection, initial.text)
    if (!connection.open) return
    follow(holds, initial.at, initial.currents)
  } catch (error) {
    failInternal(connection, error)
  }
}

/**
 * The initial data of a multiplexed connection that does not resume by gpos, read in one
 * consistent read at gpos `at`. A stream in `held` (the reader holds it up to that seq) gets no
 * window: its entries after the seq (the bound at the seq first when a snapshot is exactly there,
 * as a single-stream resume does), all such streams merged in gpos order; one further than
 * `LIVE_RESUME_MAX_ENTRIES` behind gets its open window, which the reader's store joins to what it
 * holds. Then the windows of the other streams. A clock tick at `at` closes the initial data: the
 * reader learns the gpos the states are current at.
 *
 * Only that tick carries an `id:` (`at`). A reader cut before it has no place in the gpos order
 * yet (some streams' windows did not reach it): with no Last-Event-ID of this connection it starts
 * over, as an EventSource does. An id on a window or a caught-up entry would resume it by gpos,
 * past the windows it never received.
 */
function openMany(view: StoreView, open: OpenWindows | undefined, infos: readonly StreamInfo[], held: ReadonlyMap<string, number>, at: number, now: number): string {
  // Each stream's part on its own: an engine that reruns the read after each fetch reads them
  // together and does not redo the streams done.
  const parts = view.parts('open', infos, (given) => openPart(view, open, given, held, at))
  const caughtUp = parts.flatMap((part) => part.caughtUp)
  // Each stream's items are already in gpos order, and gposes are unique across streams.
  caughtUp.sort((a, b) => a.gpos - b.gpos)
  let text = caughtUp.map((item) => item.text).join('')
  text += parts.map((part) => part.window ?? '').join('')
  return text + clockEvent(at, now, at)
}

/**
 * One stream's share of `openMany`: the entries (and bounds) of a held stream's catch-up, with
 * their gposes to be merged, or its window event.
 */
function openPart(
  view: StoreView,
  open: OpenWindows | undefined,
  given: StreamInfo,
  held: ReadonlyMap<string, number>,
  at: number,
): { caughtUp: Array<{ gpos: number; text: string }>; window?: string } {
  const info = view.get(given.name)
  const after = held.get(info.name)
  // One over the limit tells "more than the limit" without reading the rest.
  const entries = after === undefined ? [] : view.entriesAfter(info, after, LIVE_RESUME_MAX_ENTRIES + 1)
  if (after === undefined || entries.length > LIVE_RESUME_MAX_ENTRIES) {
    // Reused only on an engine this process alone writes (`open` is undefined on a shared one).
    const body = open === undefined ? view.window(info.name, { now: true }).body : open.body(info, () => view.window(info.name, { now: true }).body)
    return { caughtUp: [], window: windowEvent(body) }
  }
  const caughtUp: Array<{ gpos: number; text: string }> = []
  const name = JSON.stringify(info.name)
  // A reader cut between an entry and its bound holds the entry but may not know the bound.
  const closedAtResume = after > 0 ? view.liveBoundsBetween(info, after - 1, after)[0] : undefined
  const atResume = closedAtResume === undefined ? undefined : view.entriesAfter(info, after - 1, 1)[0]
  if (closedAtResume !== undefined && atResume !== undefined) {
    caughtUp.push({ gpos: atResume.gpos, text: multiBoundEvent(name, closedAtResume) })
  }
  const last = entries[entries.length - 1]
  if (last === undefined) return { caughtUp }
  const closing = new Set(view.liveBoundsBetween(info, after, last.seq).map((bound: Bound) => bound.seq))
  for (const entry of entries) caughtUp.push({ gpos: entry.gpos, text: multiEntryEvent(name, entry, closing.has(entry.seq), false) })
  return { caughtUp }
}

/** One page of a resume by gpos: the streams as read, and their entries after `seen` merged. */
interface ManyPage {
  currents: StreamInfo[]
  merged: Array<{ info: StreamInfo; entry: StoredEntry; closes: boolean }>
  /** The gpos the merge is complete up to (`Infinity`: every stream is at its head). */
  limit: number
  /** The gpos of the read. */
  gpos: number
  resumeBounds: string[]
}

/**
 * Sends the entries of `infos` after `afterGpos` merged in gpos order, page by page; once every
 * stream is at its head, subscribes, reads once more, and calls `follow` with the gpos everything
 * up to has been sent.
 */
async function catchUpMany(
  hub: LiveHub,
  store: StreamStore,
  connection: SseConnection,
  infos: readonly StreamInfo[],
  afterGpos: number,
  follow: (holds: readonly HeldSubscription[], seen: number, currents: ReadonlyArray<StreamInfo | undefined>) => void,
): Promise<void> {
  let seen = afterGpos
  let holds: HeldSubscription[] | undefined
  for (let first = true; ; first = false) {
    if (!connection.open) return
    const from = seen
    const page = await store.read((view) => readManyPage(view, infos, from, first ? afterGpos : undefined), { consistent: true })
    if (page === undefined) {
      connection.fail(ErrorCode.STREAM_DELETED, 'a stream of this connection was deleted')
      return
    }
    if (page.resumeBounds.length > 0) connection.sendInitial(page.resumeBounds.join(''))
    if (page.merged.length > 0) {
      connection.sendInitial(page.merged.map(({ info, entry, closes }) => multiEntryEvent(JSON.stringify(info.name), entry, closes)).join(''))
    }
    if (page.limit === Number.POSITIVE_INFINITY) {
      // At the head of every stream, as of this read: everything of theirs up to its gpos is sent.
      seen = Math.max(seen, page.gpos)
      if (holds !== undefined) return follow(holds, seen, page.currents)
      holds = holdAll(hub, connection, infos)
      continue
    }
    seen = page.limit
    if (!(await connection.writable())) return
  }
}

/** Reads one page of a resume by gpos (and, with `resumeAt`, the bounds at the resume point). */
function readManyPage(view: StoreView, infos: readonly StreamInfo[], seen: number, resumeAt: number | undefined): ManyPage | undefined {
  // Each stream's reads are parts of their own: an engine that reruns the read after each fetch
  // reads them together (see `StoreView.parts`).
  const found = view.parts('current', infos, (info) => view.find(info.name))
  const currents: StreamInfo[] = []
  for (const [i, current] of found.entries()) {
    if (current === undefined || current.id !== (infos[i] as StreamInfo).id) return undefined
    currents.push(current)
  }
  // A reader cut between an entry and its bound resumes after that entry: send each stream's bound
  // at the resume point again (readers take a bound they hold as a no-op). It carries no id: the
  // reader's place in the gpos order is already past it.
  const resumeBounds =
    resumeAt === undefined
      ? []
      : view
          .parts('bound', currents, (info) => {
            const seq = view.seqAtGpos(info, resumeAt)
            const bound = seq > 0 ? view.liveBoundsBetween(info, seq - 1, seq)[0] : undefined
            return bound === undefined ? [] : [multiBoundEvent(JSON.stringify(info.name), bound)]
          })
          .flat()
  const pages = view.parts('page', currents, (info) => view.entriesAfterGpos(info, seen, CATCH_UP_PAGE))
  // A full page may have more after it: the merge is complete only up to the lowest last gpos
  // of the full pages.
  let limit = Number.POSITIVE_INFINITY
  for (const page of pages) {
    const last = page[page.length - 1]
    if (page.length === CATCH_UP_PAGE && last !== undefined) limit = Math.min(limit, last.gpos)
  }
  const merged = view
    .parts('merge', pages, (page, i) => {
      const info = currents[i] as StreamInfo
      const taken = page.filter((entry) => entry.gpos <= limit)
      const first = taken[0]
      const last = taken[taken.length - 1]
      if (first === undefined || last === undefined) return []
      const closing = new Set(view.liveBoundsBetween(info, first.seq - 1, last.seq).map((bound: Bound) => bound.seq))
      return taken.map((entry) => ({ info, entry, closes: closing.has(entry.seq) }))
    })
    .flat()
  merged.sort((a, b) => a.entry.gpos - b.entry.gpos)
  return { currents, merged, limit, gpos: view.gpos, resumeBounds }
}
