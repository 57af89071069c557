/**
 * A group commit's writes as statements: whatever the number of jobs, a handful of statements
 * of arrays (`unnest`), in an order that keeps every constraint: purges first (a stream created
 * again after its purge reuses the name), then new streams, log rows, changed streams,
 * producers, the change feed, the position, and the notification that wakes every replica.
 */
import type { Change, WriteScope } from './write-scope.ts'

/** One statement to run. */
export interface Statement {
  sql: string
  params: unknown[]
}

const ROW_COLUMNS = [
  ['name', 'text'],
  ['content_type', 'text'],
  ['kind', 'text'],
  ['created_ts', 'bigint'],
  ['ttl_seconds', 'bigint'],
  ['expires_at', 'bigint'],
  ['snap_entries', 'bigint'],
  ['snap_bytes', 'bigint'],
  ['snap_ms', 'bigint'],
  ['head_seq', 'bigint'],
  ['head_ts', 'bigint'],
  ['total_bytes', 'bigint'],
  ['last_stream_seq', 'text'],
  ['touched_ts', 'bigint'],
  ['closed', 'boolean'],
  ['deleted', 'boolean'],
  ['fork_of', 'bigint'],
  ['fork_seq', 'bigint'],
  ['fork_snap_seq', 'bigint'],
  ['fork_prefix', 'bigint'],
  ['snap_seq', 'bigint'],
  ['snap_ts', 'bigint'],
  ['snap_cum_bytes', 'bigint'],
] as const

/** The statements that store everything `scope` holds, its position last, then the notification. */
export function flushStatements(scope: WriteScope, channel: string): Statement[] {
  const out: Statement[] = []
  const purged = [...scope.purged]
  const kept = (id: number): boolean => !scope.purged.has(id)
  if (purged.length > 0) {
    out.push({
      sql: `WITH e AS (DELETE FROM entries WHERE stream_id = ANY($1)),
                s AS (DELETE FROM snapshots WHERE stream_id = ANY($1)),
                m AS (DELETE FROM marks WHERE stream_id = ANY($1)),
                p AS (DELETE FROM producers WHERE stream_id = ANY($1))
           DELETE FROM streams WHERE id = ANY($1)`,
      params: [purged],
    })
  }
  const created: number[] = []
  const changed: number[] = []
  for (const [id, row] of scope.rows) {
    if (row === null || !kept(id)) continue
    if (scope.created.has(id)) created.push(id)
    else changed.push(id)
  }
  const columns = (ids: number[]): unknown[][] =>
    ROW_COLUMNS.map(([column, type]) =>
      ids.map((id) => {
        const value = (scope.rows.get(id) as unknown as Record<string, unknown>)[column] ?? null
        return type === 'boolean' ? value === 1 || value === true : value
      }),
    )
  const casts = ROW_COLUMNS.map(([, type], i) => `$${i + 2}::${type}[]`).join(', ')
  const names = ROW_COLUMNS.map(([column]) => column).join(', ')
  if (created.length > 0) {
    out.push({
      sql: `INSERT INTO streams (id, ${names}) SELECT * FROM unnest($1::bigint[], ${casts})`,
      params: [created, ...columns(created)],
    })
  }
  const entries = scope.entries.filter(({ id }) => kept(id))
  if (entries.length > 0) {
    out.push({
      sql: `INSERT INTO entries (stream_id, seq, ts, gpos, data, bytes)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::bytea[])`,
      params: [
        entries.map(({ id }) => id),
        entries.map(({ entry }) => entry.seq),
        entries.map(({ entry }) => entry.ts),
        entries.map(({ entry }) => entry.gpos),
        entries.map(({ entry }) => (typeof entry.data === 'string' ? entry.data : null)),
        entries.map(({ entry }) => (typeof entry.data === 'string' ? null : entry.data)),
      ],
    })
  }
  const snapshots = scope.snapshots.filter(({ id }) => kept(id))
  if (snapshots.length > 0) {
    out.push({
      sql: `INSERT INTO snapshots (stream_id, seq, ts, cum_bytes, state)
            SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])`,
      params: [
        snapshots.map(({ id }) => id),
        snapshots.map(({ snapshot }) => snapshot.seq),
        snapshots.map(({ snapshot }) => snapshot.ts),
        snapshots.map(({ snapshot }) => snapshot.cumBytes),
        snapshots.map(({ snapshot }) => snapshot.state),
      ],
    })
  }
  const marks = scope.marks.filter(({ id }) => kept(id))
  if (marks.length > 0) {
    out.push({
      sql: 'INSERT INTO marks (stream_id, seq, cum_bytes) SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[])',
      params: [marks.map((mark) => mark.id), marks.map((mark) => mark.seq), marks.map((mark) => mark.cumBytes)],
    })
  }
  if (changed.length > 0) {
    const sets = ROW_COLUMNS.map(([column]) => `${column} = u.${column}`).join(', ')
    out.push({
      sql: `UPDATE streams SET ${sets} FROM unnest($1::bigint[], ${casts}) AS u(id, ${names}) WHERE streams.id = u.id`,
      params: [changed, ...columns(changed)],
    })
  }
  const touches = [...scope.touches].filter(([id]) => kept(id))
  if (touches.length > 0) {
    out.push({
      sql: `UPDATE streams SET touched_ts = greatest(coalesce(streams.touched_ts, 0), u.ts)
              FROM unnest($1::bigint[], $2::bigint[]) AS u(id, ts) WHERE streams.id = u.id`,
      params: [touches.map(([id]) => id), touches.map(([, ts]) => ts)],
    })
  }
  const producers = [...scope.producers].filter(([key]) => kept(Number(key.split('\u0000')[0])))
  if (producers.length > 0) {
    out.push({
      sql: `INSERT INTO producers (stream_id, producer_id, epoch, last_seq)
            SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::bigint[])
            ON CONFLICT (stream_id, producer_id) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq`,
      params: [
        producers.map(([key]) => Number(key.split('\u0000')[0])),
        producers.map(([key]) => key.slice(key.indexOf('\u0000') + 1)),
        producers.map(([, row]) => row.epoch),
        producers.map(([, row]) => row.last_seq),
      ],
    })
  }
  const csn = scope.baseCsn + scope.changes.length
  if (scope.changes.length > 0) out.push(changesStatement(scope.changes, scope.baseCsn))
  out.push({ sql: 'UPDATE position SET gpos = $1, csn = $2', params: [scope.gpos, csn] })
  out.push({ sql: 'SELECT pg_notify($1, $2)', params: [channel, String(scope.gpos)] })
  return out
}

/** The change rows, numbered on from `baseCsn`, each at the gpos it happened at. */
function changesStatement(changes: readonly Change[], baseCsn: number): Statement {
  return {
    sql: `INSERT INTO changes (csn, gpos, stream_id, name, kind, seq, ts)
          SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::text[], $5::text[], $6::bigint[], $7::bigint[])`,
    params: [
      changes.map((_, i) => baseCsn + i + 1),
      changes.map((change) => change.gpos),
      changes.map((change) => change.streamId),
      changes.map((change) => change.name),
      changes.map((change) => change.kind),
      changes.map((change) => change.bound.seq),
      changes.map((change) => change.bound.ts),
    ],
  }
}
