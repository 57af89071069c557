/**
 * `node --import tsx gpos-designs.ts [--seconds 3]`: the two ways of giving entries a global
 * position (gpos) that replicas sharing one PostgreSQL agree on, measured on a durable server.
 *
 * A reader may only pass a position once nothing can still commit below it. A PostgreSQL sequence
 * alone does not give that: a transaction can take position 5, another 6, and the second commit
 * first. The two designs that do:
 *
 * - **counter**: one row holds the last position; a write transaction locks it (`FOR UPDATE`)
 *   before planning, adds its entries' count and commits. Transactions that write take the lock
 *   one after the other, so positions are handed out in commit order, gapless: a reader passes
 *   everything it sees. Costs: writers are serialised on the row for the span of one transaction
 *   (its last round trips and its commit's flush).
 * - **horizon**: positions come from a sequence, taken after the transaction has its id
 *   (`pg_current_xact_id()` first). A reader reads the sequence's last value L, then a snapshot;
 *   every position ≤ L belongs to a transaction that had its id before that snapshot, so once
 *   every transaction in progress then (the snapshot's xip list) has ended, nothing can commit at
 *   or below L: L is the horizon. Writers of different streams never wait on each other (each
 *   locks its own stream's row); readers lag by the transactions in flight, and positions have
 *   gaps where a transaction rolled back.
 *
 * Each writer stands for one replica's group-commit loop: back-to-back transactions of `batch`
 * entries, as the engine writes them (lock, then the writes, the NOTIFY and the COMMIT pipelined
 * in one round trip). One reader LISTENs, computes the horizon its design allows, reads the
 * entries up to it and records, for each transaction, the time from its COMMIT's answer to its
 * last entry being readable ("lag"; at least 0: a reader can see a commit before its writer
 * hears of it).
 *
 * Prints one table and writes `results/gpos-designs.json`.
 */
import { writeFileSync, mkdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startPostgres } from './lib/postgres.ts'
import { fmt, nowMs, percentile } from './lib/stats.ts'

type Design = 'counter' | 'horizon'

interface Config {
  design: Design
  writers: number
  batch: number
  /** Every writer appends to one stream (else each to its own). */
  oneStream: boolean
}

interface Result extends Config {
  txPerSecond: number
  entriesPerSecond: number
  lagP50Ms: number
  lagP99Ms: number
  /** Positions skipped (rolled-back transactions; always 0 here, as none rolls back). */
  gaps: number
}

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '3' } } })
const SECONDS = Number(values.seconds)
const PAYLOAD = JSON.stringify({ merge: { k: 'x'.repeat(80) } })

const SCHEMA = `
  DROP TABLE IF EXISTS entries, streams, meta;
  DROP SEQUENCE IF EXISTS gpos_seq;
  CREATE TABLE streams (id bigint PRIMARY KEY, head_seq bigint NOT NULL);
  CREATE TABLE entries (stream_id bigint NOT NULL, seq bigint NOT NULL, gpos bigint NOT NULL, xid xid8, data text NOT NULL,
                        PRIMARY KEY (stream_id, seq));
  CREATE INDEX entries_by_gpos ON entries (gpos);
  CREATE TABLE meta (id int PRIMARY KEY, gpos bigint NOT NULL);
  INSERT INTO meta VALUES (1, 0);
  CREATE SEQUENCE gpos_seq;
`

async function run(url: string, config: Config): Promise<Result> {
  const setup = new pg.Client({ connectionString: url })
  await setup.connect()
  await setup.query(SCHEMA)
  const streams = config.oneStream ? 1 : config.writers
  await setup.query('INSERT INTO streams SELECT g, 0 FROM generate_series(1, $1) g', [streams])
  await setup.end()

  const committedAt = new Map<number, number>()
  const readableAt = new Map<number, number>()
  const reader = new HorizonReader(url, config.design, readableAt)
  await reader.start()

  const writers = await Promise.all(
    Array.from({ length: config.writers }, async () => {
      const client = new pg.Client({ connectionString: url, pipeline: true } as pg.ClientConfig)
      await client.connect()
      return client
    }),
  )
  let transactions = 0
  const until = nowMs() + SECONDS * 1000
  await Promise.all(
    writers.map(async (client, i) => {
      const stream = config.oneStream ? 1 : i + 1
      while (nowMs() < until) {
        const last = await (config.design === 'counter' ? counterWrite : horizonWrite)(client, stream, config.batch)
        committedAt.set(last, nowMs())
        transactions += 1
      }
    }),
  )
  await reader.caughtUp(Math.max(...committedAt.keys()))
  await reader.stop()
  await Promise.all(writers.map((client) => client.end()))

  const lags: number[] = []
  for (const [gpos, committed] of committedAt) {
    const readable = readableAt.get(gpos)
    if (readable !== undefined) lags.push(Math.max(0, readable - committed))
  }
  return {
    ...config,
    txPerSecond: transactions / SECONDS,
    entriesPerSecond: (transactions * config.batch) / SECONDS,
    lagP50Ms: percentile(lags, 50),
    lagP99Ms: percentile(lags, 99),
    gaps: reader.gaps,
  }
}

/** counter: lock the position row, then write; returns the last position taken. */
async function counterWrite(client: pg.Client, stream: number, batch: number): Promise<number> {
  void client.query('BEGIN')
  // One round trip: the lock, then (once granted) the stream's head.
  const [locked, head] = await Promise.all([
    client.query<{ gpos: string }>('SELECT gpos FROM meta WHERE id = 1 FOR UPDATE'),
    client.query<{ head_seq: string }>('SELECT head_seq FROM streams WHERE id = $1', [stream]),
  ])
  const base = Number(locked.rows[0]?.gpos)
  const seq = Number(head.rows[0]?.head_seq)
  await Promise.all([
    client.query(
      `INSERT INTO entries (stream_id, seq, gpos, data)
       SELECT $1, $2 + i, $3 + i, $4 FROM generate_series(1, $5::int) i`,
      [stream, seq, base, PAYLOAD, batch],
    ),
    client.query('UPDATE streams SET head_seq = $2 WHERE id = $1', [stream, seq + batch]),
    client.query('UPDATE meta SET gpos = $1 WHERE id = 1', [base + batch]),
    client.query(`SELECT pg_notify('gpos', '')`),
    client.query('COMMIT'),
  ])
  return base + batch
}

/** horizon: take the transaction's id, lock the stream, take positions from the sequence, write. */
async function horizonWrite(client: pg.Client, stream: number, batch: number): Promise<number> {
  void client.query('BEGIN')
  void client.query('SELECT pg_current_xact_id()')
  // One round trip: the stream's lock, then (once granted) the positions.
  const [head, taken] = await Promise.all([
    client.query<{ head_seq: string }>('SELECT head_seq FROM streams WHERE id = $1 FOR UPDATE', [stream]),
    client.query<{ g: string }>(`SELECT nextval('gpos_seq') AS g FROM generate_series(1, $1::int)`, [batch]),
  ])
  const seq = Number(head.rows[0]?.head_seq)
  const gpos = taken.rows.map((row) => Number(row.g))
  await Promise.all([
    client.query(
      `INSERT INTO entries (stream_id, seq, gpos, xid, data)
       SELECT $1, $2 + i, g, pg_current_xact_id(), $4 FROM unnest($3::bigint[]) WITH ORDINALITY AS t(g, i)`,
      [stream, seq, gpos, PAYLOAD],
    ),
    client.query('UPDATE streams SET head_seq = $2 WHERE id = $1', [stream, seq + batch]),
    client.query(`SELECT pg_notify('gpos', '')`),
    client.query('COMMIT'),
  ])
  return gpos[gpos.length - 1] as number
}

/** A snapshot as `pg_current_snapshot()` gives it: `xmin:xmax:xip,…`. */
interface Snapshot {
  xmin: bigint
  xmax: bigint
  xip: Set<bigint>
}

function parseSnapshot(text: string): Snapshot {
  const [xmin, xmax, xip] = text.split(':')
  return { xmin: BigInt(xmin as string), xmax: BigInt(xmax as string), xip: new Set(xip ? xip.split(',').map(BigInt) : []) }
}

function ended(xid: bigint, snapshot: Snapshot): boolean {
  return xid < snapshot.xmin || (xid < snapshot.xmax && !snapshot.xip.has(xid))
}

/** The reader: on each NOTIFY, the horizon its design allows, then the entries up to it. */
class HorizonReader {
  readonly #url: string
  readonly #design: Design
  readonly #readableAt: Map<number, number>
  readonly #client: pg.Client
  /** horizon: sequence values read, each with the transactions in flight when it was read. */
  #pending: Array<{ last: number; inFlight: Set<bigint> }> = []
  #position = 0
  #polling = false
  #again = false
  #timer: NodeJS.Timeout | undefined
  #waiters: Array<{ gpos: number; resolve: () => void }> = []
  gaps = 0

  constructor(url: string, design: Design, readableAt: Map<number, number>) {
    this.#url = url
    this.#design = design
    this.#readableAt = readableAt
    this.#client = new pg.Client({ connectionString: url })
  }

  async start(): Promise<void> {
    await this.#client.connect()
    this.#client.on('notification', () => this.#poll())
    await this.#client.query('LISTEN gpos')
  }

  caughtUp(gpos: number): Promise<void> {
    if (this.#position >= gpos) return Promise.resolve()
    this.#poll()
    return new Promise((resolve) => this.#waiters.push({ gpos, resolve }))
  }

  async stop(): Promise<void> {
    clearTimeout(this.#timer)
    await this.#client.end()
  }

  #poll(): void {
    if (this.#polling) {
      this.#again = true
      return
    }
    this.#polling = true
    this.#read()
      .catch(() => {})
      .finally(() => {
        this.#polling = false
        if (this.#again) {
          this.#again = false
          this.#poll()
        }
      })
  }

  async #read(): Promise<void> {
    const horizon = this.#design === 'counter' ? Number.MAX_SAFE_INTEGER : await this.#horizon()
    const rows = await this.#client.query<{ gpos: string }>('SELECT gpos FROM entries WHERE gpos > $1 AND gpos <= $2 ORDER BY gpos', [
      this.#position,
      horizon,
    ])
    const now = nowMs()
    for (const row of rows.rows) {
      const gpos = Number(row.gpos)
      if (gpos !== this.#position + 1) this.gaps += gpos - this.#position - 1
      this.#position = gpos
      this.#readableAt.set(gpos, now)
    }
    if (this.#design === 'horizon' && horizon !== Number.MAX_SAFE_INTEGER && horizon > this.#position) this.#position = horizon
    this.#waiters = this.#waiters.filter((waiter) => {
      if (waiter.gpos > this.#position) return true
      waiter.resolve()
      return false
    })
    // Transactions still in flight end with a NOTIFY of their own; one that rolls back does not.
    if (this.#pending.length > 0) {
      clearTimeout(this.#timer)
      this.#timer = setTimeout(() => this.#poll(), 20)
    }
  }

  /** The last position nothing can commit at or below any more. */
  async #horizon(): Promise<number> {
    // The sequence first, then the snapshot: each position read was taken by a transaction that
    // had its id before the snapshot.
    const last = await this.#client.query<{ last_value: string; is_called: boolean }>('SELECT last_value, is_called FROM gpos_seq')
    const snap = await this.#client.query<{ s: string }>('SELECT pg_current_snapshot()::text AS s')
    const snapshot = parseSnapshot(snap.rows[0]?.s as string)
    const row = last.rows[0]
    this.#pending.push({ last: row?.is_called ? Number(row.last_value) : 0, inFlight: snapshot.xip })
    let horizon = this.#position
    while (this.#pending.length > 0) {
      const first = this.#pending[0] as { last: number; inFlight: Set<bigint> }
      if (![...first.inFlight].every((xid) => ended(xid, snapshot))) break
      horizon = Math.max(horizon, first.last)
      this.#pending.shift()
    }
    return horizon
  }
}

const configs: Config[] = []
for (const design of ['counter', 'horizon'] as const) {
  for (const batch of [1, 100]) {
    for (const writers of [1, 2, 3, 8]) configs.push({ design, writers, batch, oneStream: false })
  }
  configs.push({ design, writers: 3, batch: 1, oneStream: true })
}

const server = await startPostgres()
const results: Result[] = []
try {
  const url = await server.createDatabase()
  for (const config of configs) {
    const result = await run(url, config)
    results.push(result)
    process.stderr.write(
      `${config.design} writers=${config.writers} batch=${config.batch}${config.oneStream ? ' one-stream' : ''}: ` +
        `${fmt(result.txPerSecond)} tx/s, ${fmt(result.entriesPerSecond)} entries/s, lag p50 ${fmt(result.lagP50Ms, 2)} ms p99 ${fmt(result.lagP99Ms, 2)} ms\n`,
    )
  }
} finally {
  await server.stop()
}

const lines = [
  '| design | writers | entries/tx | streams | tx/s | entries/s | lag p50 (ms) | lag p99 (ms) |',
  '|---|---:|---:|---|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.design} | ${r.writers} | ${r.batch} | ${r.oneStream ? 'one' : 'one each'} | ${fmt(r.txPerSecond)} | ${fmt(r.entriesPerSecond)} | ${fmt(r.lagP50Ms, 2)} | ${fmt(r.lagP99Ms, 2)} |`,
  ),
]
process.stdout.write(`${lines.join('\n')}\n`)
const dir = fileURLToPath(new URL('./results/', import.meta.url))
mkdirSync(dir, { recursive: true })
writeFileSync(`${dir}gpos-designs.json`, `${JSON.stringify({ seconds: SECONDS, results }, null, 2)}\n`)
