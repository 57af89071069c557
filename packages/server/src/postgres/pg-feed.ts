/**
 * The change feed of one replica: every entry, close and delete committed by any replica, read
 * once, in commit order, and handed to the store, which tells this replica's live readers.
 *
 * Each write transaction ends with a NOTIFY; the feed LISTENs on a connection of its own and, on
 * each notification (and after its own replica's commits), reads what was committed after its
 * position: entries by gpos, changes by their number, and the position row, in one statement (one
 * snapshot). Because every write transaction holds the position row's lock, what one snapshot
 * shows is always everything up to some position and nothing after it: the feed never passes an
 * entry that commits later with a lower position. Notifications that arrive while a read runs are
 * folded into one more read. A lost connection is opened again (with backoff), and the read that
 * follows picks up whatever was missed: the position, not the notifications, says what is new. A
 * read that fails (the database restarting, say) is tried again with backoff, not left for the
 * next notification, which may never come. Failures are reported to `onError`.
 */
import pg from 'pg'
import type { StoredEntry } from '../stream-types.ts'

/** An entry of the feed, with whether a snapshot was taken at it (a window ended there). */
export interface FeedEntry {
  type: 'entry'
  streamId: number
  entry: StoredEntry
  snapshot: boolean
}

/** A close or delete of the feed. */
export interface FeedChange {
  type: 'change'
  csn: number
  kind: 'close' | 'delete'
  streamId: number
  name: string
  seq: number
  ts: number
  /** The last gpos handed out when it happened. */
  gpos: number
}

export type FeedItem = FeedEntry | FeedChange

/** Where the feed stands: everything up to these has been delivered. */
export interface FeedPosition {
  gpos: number
  csn: number
}

/** Rows read per statement. */
const PAGE = 1000
/** First delay before reconnecting a lost listening connection, or reading again after a failed read, in ms (doubling up to `MAX_RETRY_MS`). */
const RECONNECT_MS = 100
const MAX_RETRY_MS = 5_000

interface FeedRow {
  t: number
  stream_id: number | null
  seq: number | null
  ts: number | null
  gpos: number
  data: string | null
  bytes: Buffer | null
  snap: boolean | null
  csn: number | null
  name: string | null
  kind: 'close' | 'delete' | null
}

/**
 * One page of what was committed after a position: entries, changes, and the position it reaches.
 * An entry's `snap` is a snapshot written in the same transaction as the entry (`xmin`): a window
 * its own commit ended. A close without an append also snapshots the stream's last entry, later;
 * read after that close, the entry must not tell a window's end of its own, or a replica whose
 * feed was slower would send one bound more than the replica that committed it (or SQLite): the
 * close's change tells that end, as the final bound.
 */
export const FEED_READ = `
  WITH p AS (SELECT gpos, csn FROM position),
  e AS (SELECT e.stream_id, e.seq, e.ts, e.gpos, e.data, e.bytes, (s.seq IS NOT NULL AND s.xmin = e.xmin) AS snap
          FROM entries e LEFT JOIN snapshots s ON s.stream_id = e.stream_id AND s.seq = e.seq
         WHERE e.gpos > $1 ORDER BY e.gpos LIMIT $3),
  upto AS (SELECT CASE WHEN (SELECT count(*) FROM e) = $3 THEN (SELECT max(gpos) FROM e) ELSE (SELECT gpos FROM p) END AS gpos)
  SELECT 0 AS t, stream_id, seq, ts, gpos, data, bytes, snap, NULL::bigint AS csn, NULL::text AS name, NULL::text AS kind FROM e
  UNION ALL
  SELECT 1, stream_id, seq, ts, gpos, NULL, NULL, NULL, csn, name, kind FROM changes
   WHERE csn > $2 AND gpos <= (SELECT gpos FROM upto)
  UNION ALL
  SELECT 2, NULL, NULL, NULL, (SELECT gpos FROM upto), NULL, NULL, NULL, (SELECT csn FROM p), NULL, NULL`

export class PgFeed {
  readonly #config: pg.ClientConfig
  readonly #pool: pg.Pool
  readonly #channel: string
  readonly #deliver: (items: FeedItem[], position: FeedPosition) => Promise<void>
  readonly #onError: (error: unknown, what: string) => void
  #listener: pg.Client | undefined
  #position: FeedPosition = { gpos: 0, csn: 0 }
  #reading = false
  #again = false
  #closed = false
  #reconnectMs = RECONNECT_MS
  #reconnect: NodeJS.Timeout | undefined
  #rereadMs = RECONNECT_MS
  #reread: NodeJS.Timeout | undefined
  #waiters: Array<{ gpos: number; resolve: () => void }> = []

  /**
   * @param deliver hands a read's items, in commit order, to the store; the feed's position moves
   *   on once it resolves.
   * @param onError told of each failure (a lost connection, a failed read), with what failed.
   */
  constructor(
    config: pg.ClientConfig,
    pool: pg.Pool,
    channel: string,
    deliver: (items: FeedItem[], position: FeedPosition) => Promise<void>,
    onError: (error: unknown, what: string) => void = () => {},
  ) {
    this.#config = config
    this.#pool = pool
    this.#channel = channel
    this.#deliver = deliver
    this.#onError = onError
  }

  /** Everything up to here has been delivered to this replica's readers. */
  get position(): FeedPosition {
    return this.#position
  }

  /** Starts at the database's current position (a new replica replays nothing) and listens. */
  async start(): Promise<void> {
    const position = await this.#pool.query<{ gpos: number; csn: number }>('SELECT gpos, csn FROM position')
    const row = position.rows[0]
    if (row !== undefined) this.#position = { gpos: row.gpos, csn: row.csn }
    await this.#listen()
  }

  /** Reads what was committed since the last read (this replica committed, or was told so). */
  poke(): void {
    if (this.#closed) return
    if (this.#reading) {
      this.#again = true
      return
    }
    this.#reading = true
    clearTimeout(this.#reread)
    this.#reread = undefined
    void this.#readAll().then((ok) => {
      this.#reading = false
      if (ok) this.#rereadMs = RECONNECT_MS
      if (this.#again || this.#closed) {
        this.#again = false
        this.poke()
      } else if (!ok) {
        // Nothing else may come to read it: try again (from the same position) after a while.
        this.#reread = setTimeout(() => this.poke(), this.#rereadMs)
        this.#rereadMs = Math.min(this.#rereadMs * 2, MAX_RETRY_MS)
      }
    })
  }

  /** Resolves once everything up to `gpos` has been delivered. */
  reached(gpos: number): Promise<void> {
    if (this.#position.gpos >= gpos || this.#closed) return Promise.resolve()
    this.poke()
    return new Promise((resolve) => this.#waiters.push({ gpos, resolve }))
  }

  async close(): Promise<void> {
    this.#closed = true
    clearTimeout(this.#reconnect)
    clearTimeout(this.#reread)
    for (const waiter of this.#waiters.splice(0)) waiter.resolve()
    const listener = this.#listener
    this.#listener = undefined
    await listener?.end().catch(() => {})
  }

  async #listen(): Promise<void> {
    const listener = new pg.Client(this.#config)
    listener.on('notification', () => this.poke())
    // Listened to from the start: an error while connecting must not be thrown either.
    listener.on('error', (error) => {
      if (this.#listener !== listener) return
      this.#onError(error, 'lost its listening connection')
      this.#lost(listener)
    })
    listener.on('end', () => this.#lost(listener))
    try {
      await listener.connect()
      await listener.query(`LISTEN ${this.#channel}`)
    } catch (error) {
      // Never left connected: a client whose LISTEN failed is closed here.
      await listener.end().catch(() => {})
      throw error
    }
    if (this.#closed) {
      await listener.end().catch(() => {})
      return
    }
    this.#listener = listener
    this.#reconnectMs = RECONNECT_MS
  }

  #lost(listener: pg.Client): void {
    if (this.#listener !== listener || this.#closed) return
    this.#listener = undefined
    listener.end().catch(() => {})
    const retry = (): void => {
      this.#reconnect = undefined
      if (this.#closed) return
      this.#listen().then(
        // Whatever was committed while it was away is read now.
        () => this.poke(),
        (error: unknown) => {
          this.#onError(error, 'could not listen again')
          this.#reconnectMs = Math.min(this.#reconnectMs * 2, MAX_RETRY_MS)
          this.#reconnect = setTimeout(retry, this.#reconnectMs)
        },
      )
    }
    this.#reconnect = setTimeout(retry, this.#reconnectMs)
  }

  /** Reads and delivers pages until a read comes back short; false when a read failed. */
  async #readAll(): Promise<boolean> {
    try {
      for (;;) {
        if (this.#closed) return true
        const full = await this.#readPage()
        if (!full) return true
      }
    } catch (error) {
      // Read again from the same position: nothing past it was delivered.
      this.#onError(error, 'could not read what was committed')
      return false
    }
  }

  async #readPage(): Promise<boolean> {
    const result = await this.#pool.query<FeedRow>(FEED_READ, [this.#position.gpos, this.#position.csn, PAGE])
    const entries: FeedEntry[] = []
    const changes: FeedChange[] = []
    let upto = this.#position
    for (const row of result.rows) {
      if (row.t === 0) {
        entries.push({
          type: 'entry',
          streamId: row.stream_id as number,
          entry: { seq: row.seq as number, ts: row.ts as number, gpos: row.gpos, data: row.data ?? (row.bytes as Buffer) },
          snapshot: row.snap === true,
        })
      } else if (row.t === 1) {
        changes.push({
          type: 'change',
          csn: row.csn as number,
          kind: row.kind as 'close' | 'delete',
          streamId: row.stream_id as number,
          name: row.name as string,
          seq: row.seq as number,
          ts: row.ts as number,
          gpos: row.gpos,
        })
      } else {
        upto = { gpos: row.gpos, csn: row.csn as number }
      }
    }
    const full = entries.length === PAGE
    entries.sort((a, b) => a.entry.gpos - b.entry.gpos)
    changes.sort((a, b) => a.csn - b.csn)
    // A full page stops at its last entry: only the changes up to there are in (and the rest next time).
    const position = full ? { gpos: upto.gpos, csn: Math.max(this.#position.csn, ...changes.map((change) => change.csn)) } : upto
    const items = merge(entries, changes)
    if (items.length > 0 || position.gpos !== this.#position.gpos || position.csn !== this.#position.csn) {
      await this.#deliver(items, position)
      this.#position = position
      this.#waiters = this.#waiters.filter((waiter) => {
        if (waiter.gpos > position.gpos) return true
        waiter.resolve()
        return false
      })
    }
    return full
  }
}

/** Entries and changes in commit order: a change at gpos G comes after the entry at G, before G+1. */
function merge(entries: readonly FeedEntry[], changes: readonly FeedChange[]): FeedItem[] {
  const out: FeedItem[] = []
  let c = 0
  for (const entry of entries) {
    while (c < changes.length && (changes[c] as FeedChange).gpos < entry.entry.gpos) {
      out.push(changes[c] as FeedChange)
      c += 1
    }
    out.push(entry)
  }
  while (c < changes.length) out.push(changes[c++] as FeedChange)
  return out
}
