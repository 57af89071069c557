/**
 * The scope of one group commit on PostgreSQL: the answers read in its transaction (a
 * `ReadScope`), and on top of them what its jobs have written so far, which they read back
 * (`pg-rows.ts` consults it) and which is written in one go when the group commits
 * (`pg-flush.ts`).
 *
 * Nothing is written to the database before the commit: the group holds the position lock from
 * its first statement, so no other writer changes anything under it, and the answers it fetches
 * stay true for the whole group once the overlay is laid on them. A job that fails, or must run
 * again after a fetch, leaves nothing behind: every change goes through `#set`, which keeps an
 * undo entry until the job is done.
 *
 * The log (entries, snapshots, marks) is not overlaid: a job that reads the log of a stream an
 * earlier job of its group has written to is put off to the next group (`Defer`), which sees
 * those rows committed. Appends never do that (a stream's head state is held from the job that
 * changed it); forks and the rare rebuilds may.
 */
import type { Bound } from '@statestream/common'
import type { PlannedSnapshot } from '../append-plan.ts'
import type { HeldHead } from '../head-states.ts'
import type { ProducerRow } from '../producer-fence.ts'
import type { StoredEntry, StreamRow } from '../stream-types.ts'
import { ReadScope } from './pending-reads.ts'
import type { Query } from './pg-query.ts'

/** Thrown by a job that needs what its group has not committed yet: run it in the next group. */
export class Defer extends Error {
  constructor(streamId: number) {
    super(`the log of stream ${streamId} was written earlier in this group`)
  }
}

/** A close or delete, as the change feed records it. */
export interface Change {
  kind: 'close' | 'delete'
  streamId: number
  name: string
  /** The stream's end (close) or head (delete). */
  bound: Bound
  /** The last gpos handed out when it happened: it comes after every entry up to there. */
  gpos: number
}

export class WriteScope extends ReadScope {
  /** Rows the group has written (`null`: purged), by id. */
  readonly rows = new Map<number, StreamRow | null>()
  /** Names the group has given or freed, to the id they now name (`null`: none). */
  readonly names = new Map<string, number | null>()
  /** Ids of streams the group created. */
  readonly created = new Set<number>()
  /** Producer rows the group has written, by `producerKey`. */
  readonly producers = new Map<string, ProducerRow>()
  /** Streams whose log rows the group has buffered (in this job or an earlier one). */
  readonly logWritten = new Map<number, 'job' | 'group'>()
  readonly entries: Array<{ id: number; entry: StoredEntry }> = []
  readonly snapshots: Array<{ id: number; snapshot: PlannedSnapshot }> = []
  readonly marks: Array<{ id: number; seq: number; cumBytes: number }> = []
  readonly purged = new Set<number>()
  readonly changes: Change[] = []
  /** Reads of TTL streams to record: the latest time per stream id (never moving one back). */
  readonly touches = new Map<number, number>()
  /** Head states set by the group's jobs, held until it commits. */
  readonly heads = new Map<number, HeldHead>()
  /** Position row at the group's start (locked), and the last gpos the group handed out. */
  readonly baseGpos: number
  readonly baseCsn: number
  gpos: number
  /** New stream ids the kept jobs have used, and the current job so far. */
  #idsUsed = 0
  #idsTaken = 0
  #undo: Array<() => void> = []

  constructor(query: Query, base: { gpos: number; csn: number }) {
    super(query)
    this.baseGpos = base.gpos
    this.baseCsn = base.csn
    this.gpos = base.gpos
  }

  /** Starts a job: what it changes can be undone until `endJob`. */
  beginJob(): void {
    this.#undo = []
    this.#idsTaken = 0
  }

  /** The job is done (kept) or failed (undone, newest change first). */
  endJob(keep: boolean): void {
    if (!keep) for (let i = this.#undo.length - 1; i >= 0; i--) (this.#undo[i] as () => void)()
    this.#undo = []
    if (!keep) return
    // A failed job's ids are not lost: the next job takes them.
    this.#idsUsed += this.#idsTaken
    for (const [id, by] of this.logWritten) if (by === 'job') this.logWritten.set(id, 'group')
  }

  /**
   * The id of the next stream the job creates: allocated by a fetch (a sequence value) the first
   * time, the same one when the job runs again.
   */
  nextStreamId(): number {
    const id = this.get<number>(`stream-id:${this.#idsUsed + this.#idsTaken}`, async () => {
      const result = await this.query<{ id: number }>("SELECT nextval('streams_id_seq') AS id")
      return result.rows[0]?.id as number
    })
    this.#idsTaken += 1
    return id
  }

  setRow(id: number, row: StreamRow | null): void {
    this.#set(this.rows, id, row)
  }

  setName(name: string, id: number | null): void {
    this.#set(this.names, name, id)
  }

  markCreated(id: number): void {
    if (this.created.has(id)) return
    this.created.add(id)
    this.#undo.push(() => this.created.delete(id))
  }

  setProducer(key: string, row: ProducerRow): void {
    this.#set(this.producers, key, row)
  }

  setHead(id: number, head: HeldHead): void {
    this.#set(this.heads, id, head)
  }

  deleteHead(id: number): void {
    if (!this.heads.has(id)) return
    const previous = this.heads.get(id) as HeldHead
    this.heads.delete(id)
    this.#undo.push(() => this.heads.set(id, previous))
  }

  addEntries(id: number, entries: readonly StoredEntry[]): void {
    this.#logWrite(id)
    const start = this.entries.length
    const gpos = this.gpos
    for (const entry of entries) this.entries.push({ id, entry })
    this.gpos = Math.max(this.gpos, entries[entries.length - 1]?.gpos ?? this.gpos)
    this.#undo.push(() => {
      this.entries.length = start
      this.gpos = gpos
    })
  }

  addSnapshot(id: number, snapshot: PlannedSnapshot): void {
    this.#logWrite(id)
    this.#push(this.snapshots, { id, snapshot })
  }

  addMark(id: number, seq: number, cumBytes: number): void {
    this.#logWrite(id)
    this.#push(this.marks, { id, seq, cumBytes })
  }

  purge(id: number): void {
    if (this.purged.has(id)) return
    this.purged.add(id)
    this.#undo.push(() => this.purged.delete(id))
  }

  touch(id: number, ts: number): void {
    const previous = this.touches.get(id)
    if (previous !== undefined && previous >= ts) return
    this.#set(this.touches, id, ts)
  }

  addChange(change: Omit<Change, 'gpos'>): void {
    this.#push(this.changes, { ...change, gpos: this.gpos })
  }

  /** Where a log read of stream `id` stands: answerable from the database, or not. */
  logState(id: number): 'committed' | 'new' | 'group' | 'job' {
    if (this.created.has(id)) return 'new'
    return this.logWritten.get(id) ?? 'committed'
  }

  #logWrite(id: number): void {
    if (this.logWritten.get(id) !== undefined) return
    this.logWritten.set(id, 'job')
    this.#undo.push(() => this.logWritten.delete(id))
  }

  #push<T>(list: T[], item: T): void {
    list.push(item)
    this.#undo.push(() => {
      list.pop()
    })
  }

  #set<K, V>(map: Map<K, V>, key: K, value: V): void {
    const had = map.has(key)
    const previous = map.get(key)
    map.set(key, value)
    this.#undo.push(() => {
      if (had) map.set(key, previous as V)
      else map.delete(key)
    })
  }
}

/** The key of a producer row in the overlay. */
export function producerKey(streamId: number, producerId: string): string {
  return `${streamId}\u0000${producerId}`
}
