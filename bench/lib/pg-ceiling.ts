/**
 * The machine's ceiling for storing entries in PostgreSQL: raw `pg` inserts of the same rows into
 * a table like the server's `entries` (its DDL and index copied from
 * `packages/server/src/postgres/pg-schema.ts`), on the same durable server as the replicas
 * (`lib/postgres.ts`: fsync and synchronous_commit on). No HTTP, no JSON, no validation, no
 * position row, no change feed: what is left is PostgreSQL, its client protocol and the disk.
 *
 * `batch` rows per transaction, one `INSERT … SELECT FROM unnest(…)` each (as the server's
 * flush writes them), from `connections` connections at once, each on a stream of its own so
 * their keys never collide; PostgreSQL joins concurrent commits' WAL flushes by itself. The
 * ceiling is the best of the connection counts tried, so the server is measured against the
 * best raw PostgreSQL does here.
 */
import pg from 'pg'
import { mutation } from './load.ts'

const DDL = `
  CREATE TABLE IF NOT EXISTS entries (
    stream_id bigint NOT NULL,
    seq       bigint NOT NULL,
    ts        bigint NOT NULL,
    gpos      bigint NOT NULL,
    data      text,
    bytes     bytea,
    PRIMARY KEY (stream_id, seq),
    CHECK ((data IS NULL) <> (bytes IS NULL))
  );
  CREATE INDEX IF NOT EXISTS entries_by_gpos ON entries (gpos);
`

const INSERT = `INSERT INTO entries (stream_id, seq, ts, gpos, data)
  SELECT * FROM unnest($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[])`

/** Inserts transactions of `batch` rows from `connections` connections for `seconds`; returns rows per second. */
export async function pgCeiling(url: string, batch: number, connections: number, seconds: number): Promise<number> {
  const setup = new pg.Client({ connectionString: url })
  await setup.connect()
  try {
    await setup.query(DDL)
  } finally {
    await setup.end()
  }
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client({ connectionString: url })
      await client.connect()
      return client
    }),
  )
  const rows = Array.from({ length: 64 }, (_, i) => mutation(i, i))
  // A stream id per connection and run, past any an earlier run used.
  const base = Date.now() * 100
  try {
    const started = performance.now()
    const deadline = started + seconds * 1000
    const counts = await Promise.all(
      clients.map(async (client, c) => {
        const stream = base + c
        let seq = 0
        let inserted = 0
        const ids = new Array<number>(batch).fill(stream)
        while (performance.now() < deadline) {
          const ts = Date.now()
          const seqs = Array.from({ length: batch }, () => ++seq)
          await client.query('BEGIN')
          await client.query(INSERT, [ids, seqs, new Array<number>(batch).fill(ts), seqs, seqs.map((s) => rows[s % rows.length] as string)])
          await client.query('COMMIT')
          inserted += batch
        }
        return inserted
      }),
    )
    return counts.reduce((sum, count) => sum + count, 0) / ((performance.now() - started) / 1000)
  } finally {
    await Promise.all(clients.map((client) => client.end()))
  }
}
