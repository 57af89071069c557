/**
 * The export of one stream (format in `export-format.ts`), up to the head it had when its export
 * began. A state stream is read window by window, in seq order, the next window fetched while one
 * is written; a plain stream is read chunk by chunk as the server serves its log. Nothing more is
 * read while the output is full, so memory stays bounded by a few windows or chunks however long
 * the stream.
 *
 * A fork is exported as what a reader sees of it: its whole history, the part it shares with its
 * source included. Its import is a stream of its own with that very history.
 */
import type { LogChunk, LogStream, StateStreamClient, StreamInfo } from '@statestream/client'
import { CliError } from '../exit-codes.ts'
import { bytesLine, entryLine, isJsonType, jsonLine } from '../export-format.ts'
import type { PlainHeader, StateHeader, StreamHeader } from '../export-format.ts'
import type { LineWriter } from '../lines.ts'
import { creationTime } from './import-target.ts'
import type { Progress } from '../progress.ts'

/** What the export of `name` starts with: its configuration and its head now. */
export async function streamHeader(client: StateStreamClient, name: string, signal: AbortSignal): Promise<StreamHeader> {
  const info = await client.log(name).info({ signal })
  const expiry = {
    ...(info.ttlSeconds !== undefined && { ttlSeconds: info.ttlSeconds }),
    ...(info.expiresAt !== undefined && { expiresAt: info.expiresAt }),
  }
  if (info.kind === 'plain') {
    return { stream: name, kind: 'plain', contentType: info.contentType, ...expiry, closed: info.closed, seq: info.seq } satisfies PlainHeader
  }
  const createdAt = await creationTime(client, info, signal)
  if (createdAt === undefined) throw new CliError('INTERNAL', `"${name}": its windows give no creation time`)
  return {
    stream: name,
    kind: 'state',
    ...(info.contentType !== 'application/json' && { contentType: info.contentType }),
    createdAt,
    snapshot: policyOf(info),
    ...expiry,
    closed: info.closed,
    seq: info.seq,
  } satisfies StateHeader
}

/** Writes one stream: its header line, its lines up to `header.seq`, and its end line. */
export async function exportStream(client: StateStreamClient, header: StreamHeader, writer: LineWriter, progress: Progress, signal: AbortSignal): Promise<void> {
  await writer.line(JSON.stringify(header))
  const lines = header.kind === 'state' ? await writeState(client, header, writer, progress, signal) : await writePlain(client, header, writer, progress, signal)
  if (signal.aborted) return
  await writer.line(JSON.stringify({ end: header.stream, entries: lines }))
}

/** A state stream's entries 1 … header.seq; resolves to how many were written. */
async function writeState(client: StateStreamClient, header: StateHeader, writer: LineWriter, progress: Progress, signal: AbortSignal): Promise<number> {
  const stream = client.stream(header.stream)
  let written = 0
  let next = header.seq > 0 ? stream.window({ seq: 0 }, { signal }) : undefined
  while (next !== undefined) {
    const window = await next
    // Fetch the following window while this one is written out.
    const end = window.end
    next = end !== null && end.seq < header.seq ? stream.window({ seq: end.seq }, { signal }) : undefined
    next?.catch(() => undefined)
    const before = written
    let bytes = 0
    for (const entry of window.entries) {
      if (entry.seq <= written) continue
      if (entry.seq > header.seq) break
      if (entry.seq !== written + 1) throw new CliError('INTERNAL', `"${header.stream}": entry ${written + 1} is missing from the window read`)
      const line = entryLine(entry)
      bytes += line.length + 1
      await writer.line(line)
      written = entry.seq
    }
    progress.tick(written - before, bytes)
    if (signal.aborted) return written
    if (end === null && written < header.seq) throw new CliError('INTERNAL', `"${header.stream}": the open window ends at ${written}, before the head ${header.seq}`)
  }
  return written
}

/** Reads a bytes stream's export keeps in flight ahead of what it writes. */
const BYTES_READS_AHEAD = 8

/**
 * A plain stream's messages 1 … header.seq, one line each. A JSON stream's come chunk by chunk;
 * a bytes stream's one by one (reads of one message each, several in flight), since a read of
 * several runs their bytes together. A server that sends more than one message to such a read
 * (one without the `limit` extension) gets a line per read instead, whose seq is its last message.
 */
async function writePlain(client: StateStreamClient, header: PlainHeader, writer: LineWriter, progress: Progress, signal: AbortSignal): Promise<number> {
  const log = client.log(header.stream)
  if (!isJsonType(header.contentType)) return writeBytes(log, header, writer, progress, signal)
  let lines = 0
  let at = 0
  let next = header.seq > 0 ? log.read(0, { signal }) : undefined
  while (next !== undefined) {
    const chunk = await next
    const from = at
    if (chunk.next <= from) throw new CliError('INTERNAL', `"${header.stream}": a read after seq ${from} returned nothing, before the head ${header.seq}`)
    next = chunk.next < header.seq ? log.read(chunk.next, { signal }) : undefined
    next?.catch(() => undefined)
    let bytes = 0
    const messages = JSON.parse(Buffer.from(chunk.body).toString('utf8')) as unknown[]
    if (!Array.isArray(messages) || messages.length !== chunk.next - from) {
      throw new CliError('INTERNAL', `"${header.stream}": the read after seq ${from} does not hold messages ${from + 1} to ${chunk.next}`)
    }
    for (const [i, message] of messages.entries()) {
      const seq = from + i + 1
      if (seq > header.seq) break
      const line = jsonLine(seq, message as never)
      bytes += line.length + 1
      await writer.line(line)
      lines += 1
      at = seq
    }
    progress.tick(Math.min(at, header.seq) - from, bytes)
    if (signal.aborted) break
  }
  return lines
}

async function writeBytes(log: LogStream, header: PlainHeader, writer: LineWriter, progress: Progress, signal: AbortSignal): Promise<number> {
  const ahead: Array<{ after: number; chunk: Promise<LogChunk> }> = []
  let lines = 0
  let at = 0
  let asked = 0
  const askAhead = (): void => {
    while (ahead.length < BYTES_READS_AHEAD && asked < header.seq) {
      const chunk = log.read(asked, { signal, limit: 1 })
      chunk.catch(() => undefined)
      ahead.push({ after: asked, chunk })
      asked += 1
    }
  }
  askAhead()
  for (let read = ahead.shift(); read !== undefined && !signal.aborted; read = ahead.shift()) {
    const chunk = await read.chunk
    // Covered already by an earlier read that brought several messages.
    if (read.after < at) continue
    if (chunk.next <= at) throw new CliError('INTERNAL', `"${header.stream}": a read after seq ${at} returned nothing, before the head ${header.seq}`)
    const line = bytesLine(chunk.next, chunk.body)
    await writer.line(line)
    lines += 1
    progress.tick(Math.min(chunk.next, header.seq) - at, line.length + 1)
    at = chunk.next
    asked = Math.max(asked, at)
    askAhead()
  }
  return lines
}

function policyOf(info: StreamInfo): StateHeader['snapshot'] {
  if (info.snapshot === undefined) throw new CliError('INTERNAL', `"${info.name}": its HEAD gives no snapshot policy`)
  return info.snapshot
}
