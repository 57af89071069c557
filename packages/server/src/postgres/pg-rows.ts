/**
 * The stream, producer and position rows of the PostgreSQL engine, with the SQLite engine's
 * `StreamRows` methods (the store calls either the same way). Reads run in the operation's scope
 * (`pending-reads.ts`); inside a group commit they see the group's own writes first
 * (`write-scope.ts`), and writes go there, to be stored when the group commits.
 */
import type { AppendPlan, PlannedSnapshot } from '../append-plan.ts'
import type { ProducerRow } from '../producer-fence.ts'
import type { NewStream } from '../stream-rows.ts'
import type { RowStore } from '../storage-engine.ts'
import type { StreamRow } from '../stream-types.ts'
import { currentScope } from './pending-reads.ts'
import type { Query } from './pg-query.ts'
import { WriteScope, producerKey } from './write-scope.ts'

/** A `streams` row as PostgreSQL returns it (booleans where SQLite has 0 and 1). */
export interface PgStreamRow extends Omit<StreamRow, 'closed' | 'deleted'> {
  closed: boolean
  deleted: boolean
}

/** The shape the store reads: SQLite's, with the last snapshot the row carries. */
export function streamRowOf(row: PgStreamRow): StreamRow {
  return { ...row, closed: row.closed ? 1 : 0, deleted: row.deleted ? 1 : 0 }
}

export class PgRows implements RowStore {
  byName(name: string): StreamRow | undefined {
    const scope = currentScope()
    if (scope instanceof WriteScope && scope.names.has(name)) {
      const id = scope.names.get(name)
      return id === null || id === undefined ? undefined : this.byId(id)
    }
    const row = scope.get(`stream:${name}`, () => fetchRow(scope.query, 'SELECT * FROM streams WHERE name = $1', name))
    if (row === undefined || !(scope instanceof WriteScope) || !scope.rows.has(row.id)) return row
    return scope.rows.get(row.id) ?? undefined
  }

  byId(id: number): StreamRow | undefined {
    const scope = currentScope()
    if (scope instanceof WriteScope && scope.rows.has(id)) return scope.rows.get(id) ?? undefined
    return scope.get(`stream#${id}`, () => fetchRow(scope.query, 'SELECT * FROM streams WHERE id = $1', id))
  }

  /** Records rows read ahead in bulk as the answers of `byId` (the feed reads its streams so). */
  static prefetched(scope: { set(key: string, value: unknown): void }, rows: readonly StreamRow[], ids: readonly number[]): void {
    const found = new Map(rows.map((row) => [row.id, row]))
    for (const id of ids) scope.set(`stream#${id}`, found.get(id))
  }

  forksOf(id: number): StreamRow[] {
    const scope = currentScope()
    const stored = scope.get(`forks#${id}`, async () => {
      const result = await scope.query<PgStreamRow>('SELECT * FROM streams WHERE fork_of = $1', [id])
      return result.rows.map(streamRowOf)
    })
    if (!(scope instanceof WriteScope)) return stored
    const out: StreamRow[] = []
    for (const row of stored) {
      const current = scope.rows.has(row.id) ? scope.rows.get(row.id) : row
      if (current) out.push(current)
    }
    for (const created of scope.created) {
      const row = scope.rows.get(created)
      if (row && row.fork_of === id) out.push(row)
    }
    return out
  }

  insert(stream: NewStream): number {
    const scope = writeScope()
    const id = scope.nextStreamId()
    const { policy, fork } = stream
    const row: StreamRow = {
      id,
      name: stream.name,
      content_type: stream.contentType,
      kind: stream.kind,
      created_ts: stream.createdTs,
      ttl_seconds: stream.ttlSeconds,
      expires_at: stream.expiresAt,
      snap_entries: policy.entries,
      snap_bytes: policy.bytes,
      snap_ms: policy.ms,
      head_seq: stream.headSeq,
      head_ts: stream.headTs,
      total_bytes: stream.totalBytes,
      last_stream_seq: null,
      touched_ts: stream.touchedTs,
      closed: 0,
      deleted: 0,
      fork_of: fork?.sourceId ?? null,
      fork_seq: fork?.seq ?? null,
      fork_snap_seq: fork?.snapSeq ?? null,
      fork_prefix: fork?.prefix ?? null,
      // Until a snapshot of its own: the one it starts from (S0, or a fork's source's).
      snap_seq: fork?.snapSeq ?? 0,
      snap_ts: stream.snapshot?.ts ?? stream.createdTs,
      snap_cum_bytes: stream.snapshot?.cumBytes ?? 0,
    }
    scope.markCreated(id)
    scope.setRow(id, row)
    scope.setName(stream.name, id)
    return id
  }

  persist(id: number, plan: AppendPlan, lastStreamSeq: string | null, touchedTs: number): void {
    const scope = writeScope()
    scope.addEntries(id, plan.entries)
    for (const snapshot of plan.snapshots) scope.addSnapshot(id, snapshot)
    for (const mark of plan.marks) scope.addMark(id, mark.seq, mark.cumBytes)
    const head = plan.head
    this.#update(id, {
      head_seq: head.seq,
      head_ts: head.ts,
      total_bytes: head.totalBytes,
      last_stream_seq: lastStreamSeq,
      touched_ts: touchedTs,
      snap_seq: head.lastSnapshot.seq,
      snap_ts: head.lastSnapshot.ts,
      snap_cum_bytes: head.lastSnapshot.cumBytes,
    })
  }

  insertSnapshot(id: number, snapshot: PlannedSnapshot): void {
    const scope = writeScope()
    scope.addSnapshot(id, snapshot)
    const row = this.byId(id)
    if (row !== undefined && snapshot.seq >= (row.snap_seq ?? 0)) {
      this.#update(id, { snap_seq: snapshot.seq, snap_ts: snapshot.ts, snap_cum_bytes: snapshot.cumBytes })
    }
  }

  /** Written with the group, never moving a time back (no read: it runs last, before the commit). */
  touch(id: number, ts: number): void {
    writeScope().touch(id, ts)
  }

  close(id: number, ts: number): void {
    this.#update(id, { closed: 1, touched_ts: ts })
  }

  softDelete(id: number): void {
    this.#update(id, { deleted: 1 })
  }

  producer(id: number, producerId: string): ProducerRow | undefined {
    const scope = currentScope()
    const key = producerKey(id, producerId)
    if (scope instanceof WriteScope && scope.producers.has(key)) return scope.producers.get(key)
    return scope.get(`producer:${key}`, async () => {
      const result = await scope.query<ProducerRow>('SELECT epoch, last_seq FROM producers WHERE stream_id = $1 AND producer_id = $2', [id, producerId])
      return result.rows[0]
    })
  }

  upsertProducer(id: number, producerId: string, epoch: number, seq: number): void {
    writeScope().setProducer(producerKey(id, producerId), { epoch, last_seq: seq })
  }

  purge(id: number): void {
    const scope = writeScope()
    const row = this.byId(id)
    scope.purge(id)
    scope.setRow(id, null)
    if (row !== undefined && this.#namedBy(row.name) === id) scope.setName(row.name, null)
  }

  /** The last gpos handed out, as this operation's reads see it (a group reads it with its lock). */
  loadGpos(): number {
    const scope = currentScope()
    if (scope instanceof WriteScope) return scope.gpos
    return scope.get('position', async () => (await scope.query<{ gpos: number }>('SELECT gpos FROM position')).rows[0]?.gpos ?? 0)
  }

  /** The group's last gpos, written with its commit. */
  saveGpos(gpos: number): void {
    writeScope().gpos = gpos
  }

  names(after: string, prefix: string, upper: string | undefined, limit: number): string[] {
    const scope = currentScope()
    const params = upper === undefined ? [after, prefix, limit] : [after, prefix, limit, upper]
    return scope.get(`names:${JSON.stringify(params)}`, async () => {
      const below = upper === undefined ? '' : ' AND name < $4'
      const result = await scope.query<PgStreamRow>(`SELECT * FROM streams WHERE name > $1 AND name >= $2${below} ORDER BY name LIMIT $3`, params)
      // A list looks up each name next: the rows read here answer those lookups, so a page of
      // streams is one round trip instead of one per stream (a lookup already answered stays).
      for (const found of result.rows) {
        const row = streamRowOf(found)
        if (!scope.has(`stream:${row.name}`)) scope.set(`stream:${row.name}`, row)
        if (!scope.has(`stream#${row.id}`)) scope.set(`stream#${row.id}`, row)
      }
      return result.rows.map((row) => row.name)
    })
  }

  #namedBy(name: string): number | undefined {
    return this.byName(name)?.id
  }

  #update(id: number, fields: Partial<StreamRow>): void {
    const scope = writeScope()
    const row = this.byId(id)
    if (row === undefined) throw new Error(`no stream row ${id} to update`)
    scope.setRow(id, { ...row, ...fields })
  }
}

function writeScope(): WriteScope {
  const scope = currentScope()
  if (!(scope instanceof WriteScope)) throw new Error('a PostgreSQL write ran outside a group commit')
  return scope
}

async function fetchRow(query: Query, sql: string, param: string | number): Promise<StreamRow | undefined> {
  const result = await query<PgStreamRow>(sql, [param])
  const row = result.rows[0]
  return row === undefined ? undefined : streamRowOf(row)
}
