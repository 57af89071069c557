/**
 * The PostgreSQL engine's schema and its versioned migrations. The migrations a database lacks
 * run once, in one transaction that records the new version in `schema_version`; a
 * transaction-scoped advisory lock makes replicas that start together migrate one after the other
 * (the later ones find nothing to do). A database whose schema is newer than this server is
 * refused rather than misread. Each server's tables live in one schema (`public` by default), so
 * that one database can hold several independent statestream stores.
 *
 * The tables mirror the SQLite engine's (`db.ts`), with what replicas need besides:
 * - `position`: one row, the last global position (`gpos`) handed out and the last change number
 *   (`csn`). A write transaction locks it first (`FOR UPDATE`), so positions are handed out in
 *   commit order and readers pass everything they see (see the server README, "Replicas").
 * - `changes`: closes and deletes in commit order, with the position they happened at, so that
 *   every replica tells its live readers in the same order as the entries around them.
 * - `entries.gpos` is indexed: each replica reads the entries committed by all of them in gpos
 *   order (the SQLite engine, the only writer of its file, needs no such index).
 * - `streams.snap_*`: the stream's last snapshot, kept with its head, so that a replica learns a
 *   stream's whole head from its row in one read.
 * - `streams.name` compares byte by byte (`COLLATE "C"`), as SQLite's names do: the list of
 *   streams is in the order of its index.
 * - `streams_id_seq`: a group commit takes a new stream's id before it writes the row; ids are
 *   never reused, so a replica that still knows a deleted stream's id never takes a new stream of
 *   the same name for it.
 * An entry's stored text goes in `data` (JSON streams), its bytes in `bytes` (any other stream).
 */
import type pg from 'pg'

/** The migrations, in order; migration `i` brings the schema to version `i + 1`. */
export const PG_MIGRATIONS: readonly string[] = [
  // 1: streams, their logs, snapshots, byte marks, idempotent producers, the global position and
  // the change feed.
  `
  CREATE SEQUENCE streams_id_seq;
  CREATE TABLE streams (
    id              bigint  PRIMARY KEY DEFAULT nextval('streams_id_seq'),
    name            text    COLLATE "C" NOT NULL UNIQUE,
    content_type    text    NOT NULL,
    kind            text    NOT NULL CHECK (kind IN ('plain', 'state')),
    created_ts      bigint  NOT NULL,
    ttl_seconds     bigint,
    expires_at      bigint,
    snap_entries    bigint  NOT NULL,
    snap_bytes      bigint  NOT NULL,
    snap_ms         bigint  NOT NULL,
    head_seq        bigint  NOT NULL DEFAULT 0,
    head_ts         bigint  NOT NULL,
    total_bytes     bigint  NOT NULL DEFAULT 0,
    last_stream_seq text,
    touched_ts      bigint,
    closed          boolean NOT NULL DEFAULT false,
    deleted         boolean NOT NULL DEFAULT false,
    fork_of         bigint,
    fork_seq        bigint,
    fork_snap_seq   bigint,
    fork_prefix     bigint,
    snap_seq        bigint  NOT NULL DEFAULT 0,
    snap_ts         bigint  NOT NULL,
    snap_cum_bytes  bigint  NOT NULL DEFAULT 0
  );
  CREATE INDEX streams_by_fork_of ON streams (fork_of) WHERE fork_of IS NOT NULL;
  CREATE TABLE entries (
    stream_id bigint NOT NULL,
    seq       bigint NOT NULL,
    ts        bigint NOT NULL,
    gpos      bigint NOT NULL,
    data      text,
    bytes     bytea,
    PRIMARY KEY (stream_id, seq),
    CHECK ((data IS NULL) <> (bytes IS NULL))
  );
  CREATE INDEX entries_by_gpos ON entries (gpos);
  CREATE TABLE snapshots (
    stream_id bigint NOT NULL,
    seq       bigint NOT NULL,
    ts        bigint NOT NULL,
    cum_bytes bigint NOT NULL,
    state     text   NOT NULL,
    PRIMARY KEY (stream_id, seq)
  );
  CREATE INDEX snapshots_by_ts ON snapshots (stream_id, ts, seq);
  CREATE TABLE marks (
    stream_id bigint NOT NULL,
    seq       bigint NOT NULL,
    cum_bytes bigint NOT NULL,
    PRIMARY KEY (stream_id, seq)
  );
  CREATE TABLE producers (
    stream_id   bigint NOT NULL,
    producer_id text   NOT NULL,
    epoch       bigint NOT NULL,
    last_seq    bigint NOT NULL,
    PRIMARY KEY (stream_id, producer_id)
  );
  CREATE TABLE position (
    id   integer PRIMARY KEY CHECK (id = 1),
    gpos bigint  NOT NULL,
    csn  bigint  NOT NULL
  );
  INSERT INTO position (id, gpos, csn) VALUES (1, 0, 0);
  CREATE TABLE changes (
    csn       bigint PRIMARY KEY,
    gpos      bigint NOT NULL,
    stream_id bigint NOT NULL,
    name      text   NOT NULL,
    kind      text   NOT NULL CHECK (kind IN ('close', 'delete')),
    seq       bigint NOT NULL,
    ts        bigint NOT NULL
  );
  `,
]

/** The advisory lock key migrations hold (an arbitrary constant: "statestream schema"). */
const MIGRATION_LOCK = 0x5754_5354

/**
 * Creates `schema` if needed and migrates it to the newest version. `client` must not be in a
 * transaction; its `search_path` must be `schema`.
 */
export async function migrate(client: pg.ClientBase, schema: string): Promise<void> {
  await client.query('BEGIN')
  try {
    await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [MIGRATION_LOCK, schema])
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`)
    await client.query('CREATE TABLE IF NOT EXISTS schema_version (version integer NOT NULL)')
    const found = await client.query<{ version: number }>('SELECT version FROM schema_version')
    const current = found.rows[0]?.version ?? 0
    if (current > PG_MIGRATIONS.length) {
      throw new Error(`the database is at schema version ${current}, newer than this server (${PG_MIGRATIONS.length})`)
    }
    for (let version = current; version < PG_MIGRATIONS.length; version++) {
      await client.query(PG_MIGRATIONS[version] as string)
    }
    if (found.rows.length === 0) await client.query('INSERT INTO schema_version (version) VALUES ($1)', [PG_MIGRATIONS.length])
    else await client.query('UPDATE schema_version SET version = $1', [PG_MIGRATIONS.length])
    await client.query('COMMIT')
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {})
    throw error
  }
}

/** `name` as a quoted SQL identifier. */
export function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`
}
