/**
 * `/v1/live/<name>` and `/v1/live?stream=…`: the live tails of state streams over SSE (the event
 * format is in `live/live-events.ts`). Everything that can be refused is checked before the
 * response is hijacked, so refusals are ordinary JSON errors with their status.
 */
import { ErrorCode, HEADERS, QUERY, ROUTES, STREAM_RESUME_SEPARATOR, StateStreamError, quote, streamNameProblem } from '@statestream/common'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { LiveHub } from '../live/live-hub.ts'
import { tailStreams } from '../live/multi-tail.ts'
import { tailStream } from '../live/state-tail.ts'
import { intParam, streamName } from '../params.ts'
import type { StoreView } from '../store-view.ts'
import type { StreamStore } from '../stream-store.ts'
import type { StreamInfo } from '../stream-types.ts'

/** Options of the live routes. */
export interface LiveRoutesOptions {
  store: StreamStore
  hub: LiveHub
}

const INTEGER = /^(0|[1-9]\d{0,15})$/

export async function liveRoutes(app: FastifyInstance, options: LiveRoutesOptions): Promise<void> {
  const { store, hub } = options

  app.get(`${ROUTES.live}*`, async (request, reply) => {
    const name = streamName(request.params)
    const held = heldWindow(request.query as Record<string, unknown>)
    // In the read that finds the stream: a later deletion is the tail's to tell (it follows this stream's id).
    const info = await store.read((view) => {
      const info = stateStream(view, name)
      if (held !== undefined) ownHeldWindow(view, info, held)
      return info
    })
    const after = resumePoint(request)
    if (after !== undefined && after > info.headSeq) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `cannot resume after seq ${after}: the stream's head is ${info.headSeq}`)
    }
    refuseWhileClosing(hub)
    await store.touch(info.name)
    await tailStream(hub, store, reply, info, after)
    return reply
  })

  app.get(ROUTES.liveMulti, async (request, reply) => {
    const query = request.query as Record<string, unknown>
    const { names, held } = streamParams(query, hub.options.maxStreamsPerConnection)
    const windows = heldWindows(query, names)
    // With the database's gpos: a reader resuming on another replica may be ahead of this one's feed.
    const { infos, gpos } = await store.read((view) => ({
      infos: view.parts('streams', names, (name) => {
        const info = stateStream(view, name)
        const window = windows.get(name)
        if (window !== undefined) ownHeldWindow(view, info, window)
        return info
      }),
      gpos: view.gpos,
    }))
    const after = resumePoint(request)
    if (after !== undefined && after > gpos) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `cannot resume after gpos ${after}: the server is at ${gpos}`)
    }
    // A whole-connection resume by gpos wins; the per-stream points are then not used.
    if (after === undefined) {
      for (const info of infos) {
        const seq = held.get(info.name)
        if (seq !== undefined && seq > info.headSeq) {
          throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `cannot resume "${info.name}" after seq ${seq}: its head is ${info.headSeq}`)
        }
      }
    }
    refuseWhileClosing(hub)
    await Promise.all(infos.map((info) => store.touch(info.name)))
    await tailStreams(hub, store, reply, infos, after, held)
    return reply
  })
}

/**
 * The start of the window a resuming reader holds (`?window=<seq>.<ts>`), if it says; on the
 * multiplexed route, `window=<name>@<seq>.<ts>` per stream (`heldWindows`). A stream
 * deleted and created again under its name is another history, and the entries after the held
 * seq would be joined to a state that history never had.
 */
function heldWindow(query: Record<string, unknown>): HeldWindow | undefined {
  const value = query[QUERY.window]
  if (value === undefined) return undefined
  const held = typeof value === 'string' ? windowStart(value) : undefined
  if (held === undefined) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"window" must be the start of the window held, <seq>.<ts>, got ${quote(String(value))}`)
  return held
}

/** The `window=<name>@<seq>.<ts>` parameters of the multiplexed route: per stream, the start of the window held. */
function heldWindows(query: Record<string, unknown>, names: readonly string[]): Map<string, HeldWindow> {
  const raw = query[QUERY.window]
  const given = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  const out = new Map<string, HeldWindow>()
  for (const value of given) {
    const split = typeof value === 'string' ? value.indexOf(STREAM_RESUME_SEPARATOR) : -1
    const name = split === -1 ? '' : (value as string).slice(0, split)
    const held = split === -1 ? undefined : windowStart((value as string).slice(split + 1))
    if (held === undefined) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"window" must be <name>@<seq>.<ts>, the start of the window held, got ${quote(String(value))}`)
    }
    if (!names.includes(name)) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"window" names ${quote(name)}, which is not a "stream" of the request`)
    const known = out.get(name)
    if (known !== undefined && (known.seq !== held.seq || known.ts !== held.ts)) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${name}" is given with different held windows`)
    }
    out.set(name, held)
  }
  return out
}

/** The start of a window, `<seq>.<ts>`; `undefined` if it is not that. */
function windowStart(value: string): HeldWindow | undefined {
  const match = HELD_WINDOW.exec(value)
  const seq = Number(match?.[1])
  const ts = Number(match?.[2])
  return match === null || !Number.isSafeInteger(seq) || !Number.isSafeInteger(ts) ? undefined : { seq, ts }
}

interface HeldWindow {
  seq: number
  ts: number
}

const HELD_WINDOW = /^(0|[1-9]\d{0,15})\.(0|[1-9]\d{0,15})$/

/**
 * Refuses, `410 STREAM_DELETED`, a resume whose held window is not one of the stream's: the
 * stream the reader read was deleted (and the name made again). The reader lets go of what it
 * holds and connects afresh. The same check as the client's bounds-only one (`/v1/windows` at
 * the held start's time), made in the read that finds the stream, so nothing can fall between.
 */
function ownHeldWindow(view: StoreView, info: StreamInfo, held: HeldWindow): void {
  if (view.windows(info.name, held.ts, held.ts).some((window) => window.start.seq === held.seq && window.start.ts === held.ts)) return
  throw new StateStreamError(
    ErrorCode.STREAM_DELETED,
    `"${info.name}" has no window starting at seq ${held.seq}, ts ${held.ts}: the stream read was deleted and the name made again; connect afresh`,
  )
}

/** The stream, which must exist and be a state stream. */
function stateStream(view: StoreView, name: string): StreamInfo {
  const info = view.get(name)
  if (info.kind !== 'state') throw new StateStreamError(ErrorCode.NOT_A_STATE_STREAM, `"${name}" is not a state stream`)
  return info
}

function refuseWhileClosing(hub: LiveHub): void {
  if (hub.closing) throw new StateStreamError(ErrorCode.SHUTTING_DOWN, 'the server is shutting down')
}

/**
 * Where a reader resumes: `Last-Event-ID` (what an EventSource sends on reconnecting, so it wins)
 * or `?after=`; `undefined` for a fresh start.
 */
function resumePoint(request: FastifyRequest): number | undefined {
  const header = request.headers[HEADERS.lastEventId]
  const value = Array.isArray(header) ? header[0] : header
  if (value !== undefined && value.trim() !== '') {
    const id = value.trim()
    if (!INTEGER.test(id) || !Number.isSafeInteger(Number(id))) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `Last-Event-ID must be a non-negative integer, got ${quote(value)}`)
    }
    return Number(id)
  }
  return intParam(request.query as Record<string, unknown>, QUERY.after)
}

/**
 * The `stream` parameters: valid names, duplicates removed, at most `max` of them; and the resume
 * points given as `<name>@<seq>` (the reader holds that stream up to entry `seq`).
 */
function streamParams(query: Record<string, unknown>, max: number): { names: string[]; held: Map<string, number> } {
  const raw = query[QUERY.stream]
  const given = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw]
  if (given.length === 0) throw new StateStreamError(ErrorCode.INVALID_PARAMETER, 'give at least one "stream" parameter')
  const names = new Set<string>()
  const held = new Map<string, number>()
  for (const value of given) {
    if (typeof value !== 'string') throw new StateStreamError(ErrorCode.INVALID_PARAMETER, '"stream" must be a stream name')
    const split = value.indexOf(STREAM_RESUME_SEPARATOR)
    const name = split === -1 ? value : value.slice(0, split)
    const problem = streamNameProblem(name)
    if (problem !== undefined) throw new StateStreamError(ErrorCode.INVALID_STREAM_NAME, problem)
    const point = split === -1 ? undefined : value.slice(split + 1)
    if (point !== undefined && (!INTEGER.test(point) || !Number.isSafeInteger(Number(point)))) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `the resume point of "${name}" must be a non-negative integer seq, got ${quote(point)}`)
    }
    const seq = point === undefined ? undefined : Number(point)
    // Two different points for one stream cannot both say what the reader holds.
    if (names.has(name) && held.get(name) !== seq) {
      throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `"${name}" is given with different resume points`)
    }
    if (seq !== undefined) held.set(name, seq)
    names.add(name)
  }
  if (names.size > max) {
    throw new StateStreamError(ErrorCode.TOO_MANY_STREAMS, `at most ${max} streams per live connection, got ${names.size}`)
  }
  return { names: [...names], held }
}
