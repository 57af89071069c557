/**
 * The PostgreSQL statements behind `LogReader` (the SQLite engine's are in `log-reader.ts`): the
 * same queries, spelled for PostgreSQL, each answered in the operation's scope
 * (`pending-reads.ts`). Window bodies are still assembled by the database from the stored texts
 * (`string_agg` for SQLite's `group_concat`), never parsed.
 *
 * Inside a group commit the log is read as committed: a read of a stream an earlier job of the
 * group wrote to defers the job to the next group (`write-scope.ts`).
 */
import { NEAR_HEAD } from '../log-reader.ts'
import type { LogStatements, Statement } from '../log-reader.ts'
import type { StoredEntry } from '../stream-types.ts'
import { currentScope } from './pending-reads.ts'
import { Defer, WriteScope } from './write-scope.ts'

interface EntryRow {
  seq: number
  ts: number
  gpos: number
  data: string | null
  bytes: Buffer | null
}

const ENTRY_COLUMNS = 'seq, ts, gpos, data, bytes'
const RANGE = 'stream_id = $1 AND seq > $2 AND seq <= $3'

/** The log statements of the PostgreSQL engine. */
export function pgLogStatements(): LogStatements {
  let next = 0
  const statement = <P extends unknown[], R>(sql: string, map: (row: never) => R = (row) => row as R): Statement<P, R> => {
    const id = next++
    const rows = (params: P): R[] => {
      const scope = currentScope()
      if (scope instanceof WriteScope) {
        const streamId = params[0] as number
        const state = scope.logState(streamId)
        if (state === 'group') throw new Defer(streamId)
        if (state !== 'committed') throw new Error(`a job read the log of stream ${streamId} it is writing`)
      }
      return scope.get(`log${id}:${JSON.stringify(params)}`, async () => (await scope.query(sql, params)).rows.map((row) => map(row as never)))
    }
    return {
      get: (...params: P) => rows(params)[0],
      all: (...params: P) => rows(params),
    }
  }
  return {
    entries: statement(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE ${RANGE} ORDER BY seq LIMIT $4`, storedEntry),
    entry: statement(`SELECT ${ENTRY_COLUMNS} FROM entries WHERE stream_id = $1 AND seq = $2`, storedEntry),
    entriesText: statement(
      `SELECT string_agg('{"seq":' || seq || ',"ts":' || ts || ',"m":' || data || '}', ',' ORDER BY seq) AS entries,
              max(gpos) AS gpos
         FROM entries WHERE ${RANGE}`,
    ),
    mutations: statement(`SELECT string_agg(data, ',' ORDER BY seq) AS mutations, max(seq) AS seq, max(ts) AS ts FROM entries WHERE ${RANGE}`),
    mutationsUpTo: statement(
      `SELECT string_agg(data, ',' ORDER BY seq) AS mutations, max(seq) AS seq, max(ts) AS ts FROM entries WHERE ${RANGE} AND ts <= $4`,
    ),
    bytes: statement(`SELECT coalesce(sum(coalesce(octet_length(data), octet_length(bytes))), 0) AS bytes FROM entries WHERE ${RANGE}`),
    mark: statement(`SELECT seq, cum_bytes FROM marks WHERE ${RANGE} ORDER BY seq DESC LIMIT 1`),
    lastSnapshot: statement('SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq DESC LIMIT 1'),
    firstSnapshot: statement('SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = $1 AND seq >= $2 AND seq <= $3 ORDER BY seq LIMIT 1'),
    lastSnapshotByTs: statement('SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = $1 AND ts <= $2 ORDER BY ts DESC, seq DESC LIMIT 1'),
    snapshots: statement(
      'SELECT seq, ts, cum_bytes FROM snapshots WHERE stream_id = $1 AND seq >= $2 AND seq <= $3 AND ts <= $4 ORDER BY seq LIMIT $5',
    ),
    state: statement('SELECT state FROM snapshots WHERE stream_id = $1 AND seq = $2'),
    lastNearGpos: statement(
      `SELECT max(seq) AS seq FROM (SELECT seq, gpos FROM entries WHERE ${RANGE} ORDER BY seq DESC LIMIT ${NEAR_HEAD}) AS near WHERE gpos <= $4`,
    ),
  }
}

function storedEntry(row: EntryRow): StoredEntry {
  return { seq: row.seq, ts: row.ts, gpos: row.gpos, data: row.data ?? (row.bytes as Buffer) }
}
