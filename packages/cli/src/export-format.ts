/**
 * The export format: NDJSON that carries every state stream exactly, so an import rebuilds the
 * same history — the same entries with the same seq and ts, the same creation time and snapshot
 * policy (hence the same windows), and the same closed flag.
 *
 *   {"statestream":"export","version":1}                                  first line, once
 *   {"stream":"weather/a","kind":"state","createdAt":1700000000000,       one per stream
 *    "snapshot":{"entries":1000,"bytes":1048576,"ms":60000},"closed":false,"seq":3}
 *   {"seq":1,"ts":1700000000100,"m":{"merge":{"t":21.5}}}                 its entries, in seq order
 *   {"end":"weather/a","entries":3}                                       after its last entry
 *
 * A stream's `end` line is written after its last entry, so a file cut short is told apart from a
 * complete one. Parsing is strict: a line that is none of these is an error naming the line.
 */
import type { Entry, Mutation, SnapshotPolicy } from '@statestream/client'

/** Version of the format this code writes and reads. */
export const EXPORT_VERSION = 1

/** The first line of every export. */
export interface ExportHeader {
  statestream: 'export'
  version: number
}

/** The line that starts a stream. */
export interface StreamHeader {
  stream: string
  kind: 'state'
  /** The time of the stream's creation (its seq-0 snapshot), ms. */
  createdAt: number
  snapshot: SnapshotPolicy
  closed: boolean
  /** The seq of its last entry: how many entries follow. */
  seq: number
}

/** The line after a stream's last entry. */
export interface StreamEnd {
  end: string
  entries: number
}

/** One line of an export, parsed. */
export type ExportLine =
  | { type: 'header'; value: ExportHeader }
  | { type: 'stream'; value: StreamHeader }
  | { type: 'entry'; value: Entry }
  | { type: 'end'; value: StreamEnd }

/** The first line, as written. */
export function headerLine(): string {
  return JSON.stringify({ statestream: 'export', version: EXPORT_VERSION } satisfies ExportHeader)
}

/** An entry's line: `seq`, `ts`, then the mutation exactly as the server stores it. */
export function entryLine(entry: Entry): string {
  return `{"seq":${entry.seq},"ts":${entry.ts},"m":${JSON.stringify(entry.m)}}`
}

/** Parses one line of an export; throws a message naming what is wrong. */
export function parseExportLine(text: string): ExportLine {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (err) {
    throw new Error(`not JSON (${(err as Error).message})`)
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not a JSON object')
  const line = value as Record<string, unknown>
  if ('m' in line) {
    if (!isCount(line.seq) || line.seq < 1 || !isCount(line.ts) || !isMutation(line.m)) {
      throw new Error('an entry needs a seq ≥ 1, a ts in ms and a mutation m')
    }
    return { type: 'entry', value: { seq: line.seq, ts: line.ts, m: line.m } }
  }
  if (typeof line.stream === 'string') {
    const snapshot = line.snapshot as Record<string, unknown> | undefined
    if (
      line.kind !== 'state' ||
      !isCount(line.createdAt) ||
      typeof line.closed !== 'boolean' ||
      !isCount(line.seq) ||
      typeof snapshot !== 'object' ||
      snapshot === null ||
      !isCount(snapshot.entries) ||
      !isCount(snapshot.bytes) ||
      !isCount(snapshot.ms)
    ) {
      throw new Error(`the header of stream "${line.stream}" needs kind "state", createdAt, snapshot, closed and seq`)
    }
    return {
      type: 'stream',
      value: {
        stream: line.stream,
        kind: 'state',
        createdAt: line.createdAt,
        snapshot: { entries: snapshot.entries, bytes: snapshot.bytes, ms: snapshot.ms },
        closed: line.closed,
        seq: line.seq,
      },
    }
  }
  if (typeof line.end === 'string') {
    if (!isCount(line.entries)) throw new Error('an end line needs the count of entries')
    return { type: 'end', value: { end: line.end, entries: line.entries } }
  }
  if (line.statestream === 'export') {
    if (line.version !== EXPORT_VERSION) throw new Error(`export format version ${String(line.version)} (this statestream reads ${EXPORT_VERSION})`)
    return { type: 'header', value: { statestream: 'export', version: EXPORT_VERSION } }
  }
  throw new Error('not a line of a statestream export')
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0
}

function isMutation(value: unknown): value is Mutation {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false
  const keys = Object.keys(value)
  return keys.length === 1 && (keys[0] === 'patch' || keys[0] === 'merge' || keys[0] === 'set')
}
