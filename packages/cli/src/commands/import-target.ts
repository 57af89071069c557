/**
 * Where an import of one stream starts: the target stream, created with the export's
 * configuration, or the one there checked to be of the same configuration and history so far.
 * What the target holds is told by its head, its closed flag, and its last message, against which
 * the export's message of that place is checked (same history, or a conflict).
 */
import { ErrorCode } from '@statestream/client'
import type { Entry, StateStreamClient, StreamInfo } from '@statestream/client'
import { ERROR_STATUS, HEADERS, ROUTES, STATE_KIND, StateStreamError, isErrorBody, jsonEqual } from '@statestream/common'
import type { ServerAddress } from '../context.ts'
import { CliError, EXIT } from '../exit-codes.ts'
import { isJsonType } from '../export-format.ts'
import type { StateHeader, StreamHeader } from '../export-format.ts'

/** The last message a target holds, as the export would have it. */
export type LastMessage = { kind: 'entry'; entry: Entry } | { kind: 'json'; text: string } | { kind: 'bytes'; bytes: Buffer }

/** The target of one stream's import, as it stands. */
export interface Target {
  /** How many messages it holds (the seq of its last). */
  head: number
  closed: boolean
  /** Its message at `head` (undefined when it has none). */
  last: LastMessage | undefined
}

/** A conflict between the target and the export: the import cannot make one the other. */
export function conflict(name: string, why: string): CliError {
  return new CliError(ErrorCode.STREAM_CONFLICT, `"${name}" on the server ${why}`, EXIT.CONFLICT)
}

/** Creates the target of `header`, or checks the one there; tells where it stands. */
export async function openTarget(client: StateStreamClient, server: ServerAddress, header: StreamHeader, signal: AbortSignal): Promise<Target> {
  const name = header.stream
  const log = client.log(name)
  let info = await infoOrUndefined(client, name, signal)
  if (info === undefined) {
    const expiry = {
      ...(header.ttlSeconds !== undefined && { ttlSeconds: header.ttlSeconds }),
      ...(header.expiresAt !== undefined && { expiresAt: header.expiresAt }),
    }
    if (header.kind === 'state' && header.contentType !== undefined) await createStateWithType(server, header, header.contentType, signal)
    else if (header.kind === 'state') await client.stream(name).create({ snapshot: header.snapshot, createdAt: header.createdAt, ...expiry, signal })
    else await log.create({ contentType: header.contentType, ...expiry, signal })
    info = await log.info({ signal })
  }
  checkConfig(header, info)
  if (info.closed && !header.closed) throw conflict(name, 'is closed, and the export\'s stream is not')
  if (header.kind === 'state') {
    const stream = client.stream(name)
    const createdAt = await creationTime(client, info, signal)
    if (createdAt !== header.createdAt) throw conflict(name, `was created at another time (${createdAt}, the export's is ${header.createdAt})`)
    if (info.seq > header.seq) throw conflict(name, `has ${info.seq} entries, more than the export's ${header.seq}`)
    if (info.closed && info.seq < header.seq) throw conflict(name, `is closed at seq ${info.seq}, before the export's ${header.seq}`)
    if (info.seq === 0) return { head: 0, closed: info.closed, last: undefined }
    // The window for seq head-1 holds entry head (a window holds the entries after its start).
    const window = await stream.window({ seq: info.seq - 1 }, { signal })
    const entry = window.entries.find((candidate) => candidate.seq === info.seq)
    return { head: info.seq, closed: info.closed, last: entry === undefined ? undefined : { kind: 'entry', entry } }
  }
  const json = isJsonType(header.contentType)
  if (json && info.seq > header.seq) throw conflict(name, `has ${info.seq} messages, more than the export's ${header.seq}`)
  if (info.seq === 0) return { head: 0, closed: info.closed, last: undefined }
  // The read after head-1 holds the last message alone: nothing comes after it.
  const chunk = await log.read(info.seq - 1, { signal })
  const body = Buffer.from(chunk.body.buffer, chunk.body.byteOffset, chunk.body.byteLength)
  if (!json) return { head: info.seq, closed: info.closed, last: { kind: 'bytes', bytes: body } }
  const messages = JSON.parse(body.toString('utf8')) as unknown[]
  return { head: info.seq, closed: info.closed, last: { kind: 'json', text: JSON.stringify(messages[0]) } }
}

/**
 * Creates a state stream whose content type is not plain `application/json` (it has parameters,
 * such as `; charset=utf-8`): the client's `create()` always sends `application/json`, and a
 * stream created so would then be refused as another configuration. So this one `PUT` is sent
 * here, with the same headers the client sends plus the export's content type. An existing stream
 * of the same configuration answers 200, so a retried run finds it done.
 */
async function createStateWithType(server: ServerAddress, header: StateHeader, contentType: string, signal: AbortSignal): Promise<void> {
  const headers: Record<string, string> = {
    ...server.headers,
    'content-type': contentType,
    [HEADERS.streamKind]: STATE_KIND,
    [HEADERS.snapshotEntries]: String(header.snapshot.entries),
    [HEADERS.snapshotBytes]: String(header.snapshot.bytes),
    [HEADERS.snapshotMs]: String(header.snapshot.ms),
    [HEADERS.streamCreatedAt]: String(header.createdAt),
    ...(header.ttlSeconds !== undefined && { [HEADERS.streamTtl]: String(header.ttlSeconds) }),
    ...(header.expiresAt !== undefined && { [HEADERS.streamExpiresAt]: new Date(header.expiresAt).toISOString() }),
  }
  let response: Response
  try {
    response = await fetch(`${server.baseUrl}${ROUTES.stream}${header.stream}`, { method: 'PUT', headers, signal })
  } catch (err) {
    if (signal.aborted) throw signal.reason
    throw new StateStreamError(ErrorCode.NETWORK, `PUT ${header.stream} failed`, { cause: err })
  }
  const text = await response.text()
  if (response.ok) return
  // The server's own error, as the client reports it (its code decides the exit code).
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    body = undefined
  }
  if (isErrorBody(body) && ERROR_STATUS[body.error.code] === response.status) throw new StateStreamError(body.error.code, body.error.message)
  throw new CliError('FAILED', `creating "${header.stream}": HTTP ${response.status}${isErrorBody(body) ? `: ${body.error.message}` : ''}`)
}

/** Refuses a target of another kind, content type, snapshot policy or expiry than the export's. */
function checkConfig(header: StreamHeader, info: StreamInfo): void {
  const name = header.stream
  if (info.kind !== header.kind) throw conflict(name, `is a ${info.kind} stream, the export's is a ${header.kind} stream`)
  const contentType = header.kind === 'state' ? (header.contentType ?? 'application/json') : header.contentType
  if (info.contentType !== contentType) throw conflict(name, `has content type ${info.contentType}, the export's is ${contentType}`)
  if (header.kind === 'state') {
    const policy = info.snapshot
    const wanted = header.snapshot
    if (policy === undefined || policy.entries !== wanted.entries || policy.bytes !== wanted.bytes || policy.ms !== wanted.ms) {
      throw conflict(name, `has another snapshot policy (${JSON.stringify(policy)}, the export's is ${JSON.stringify(wanted)})`)
    }
  }
  if (info.ttlSeconds !== header.ttlSeconds || info.expiresAt !== header.expiresAt) {
    const expiry = (ttl: number | undefined, at: number | undefined) =>
      ttl !== undefined ? `a TTL of ${ttl} s` : at !== undefined ? `an expiry at ${new Date(at).toISOString()}` : 'no expiry'
    throw conflict(name, `has ${expiry(info.ttlSeconds, info.expiresAt)}, the export's has ${expiry(header.ttlSeconds, header.expiresAt)}`)
  }
}

/** The target's message at the head, checked against the export's message of that place. */
export function sameMessage(last: LastMessage | undefined, line: LastMessage): boolean {
  if (last === undefined || last.kind !== line.kind) return false
  if (last.kind === 'entry' && line.kind === 'entry') return last.entry.ts === line.entry.ts && jsonEqual(last.entry.m, line.entry.m)
  if (last.kind === 'json' && line.kind === 'json') return last.text === line.text
  return last.kind === 'bytes' && line.kind === 'bytes' && last.bytes.equals(line.bytes)
}

/** A state stream's creation time: the ts of its first window's start (the seq-0 snapshot). */
export async function creationTime(client: StateStreamClient, info: StreamInfo, signal: AbortSignal): Promise<number | undefined> {
  const stream = client.stream(info.name)
  if (info.seq > 0) return (await stream.window({ seq: 0 }, { signal })).start?.ts
  // Without entries, from the listing of its one window (a closed empty stream's window is empty too).
  const [first] = await stream.windowBounds({ signal })
  return first?.start.ts
}

async function infoOrUndefined(client: StateStreamClient, name: string, signal: AbortSignal): Promise<StreamInfo | undefined> {
  try {
    return await client.log(name).info({ signal })
  } catch (err) {
    if ((err as { code?: unknown }).code === ErrorCode.STREAM_NOT_FOUND) return undefined
    throw err
  }
}
