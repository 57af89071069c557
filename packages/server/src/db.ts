/**
 * Opening the SQLite database: WAL, the durability level, and versioned migrations. Each
 * migration runs once, in its own transaction, and bumps `PRAGMA user_version`.
 */
import Database from 'better-sqlite3'

/**
 * How much a write survives once acknowledged.
 * - `normal`: WAL with `synchronous=NORMAL`. Survives a crash of the process; a power loss or OS
 *   crash may lose the last transactions (never corrupts the file).
 * - `full`: WAL with `synchronous=FULL`. Every acknowledged write is on disk: survives power loss.
 */
export type Durability = 'normal' | 'full'

const MIGRATIONS: readonly string[] = [
  // 1: streams, their log, snapshots, idempotent producers, and the global position.
  `
  CREATE TABLE streams (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    content_type  TEXT    NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('plain', 'state')),
    created_ts    INTEGER NOT NULL,
    ttl_seconds   INTEGER,
    expires_at    INTEGER,
    snap_entries  INTEGER NOT NULL,
    snap_bytes    INTEGER NOT NULL,
    snap_ms       INTEGER NOT NULL,
    head_seq      INTEGER NOT NULL DEFAULT 0,
    head_ts       INTEGER NOT NULL,
    total_bytes   INTEGER NOT NULL DEFAULT 0,
    last_stream_seq TEXT
  );
  CREATE TABLE entries (
    stream_id INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    gpos      INTEGER NOT NULL,
    data      BLOB    NOT NULL,
    PRIMARY KEY (stream_id, seq)
  ) WITHOUT ROWID;
  CREATE INDEX entries_by_gpos ON entries (stream_id, gpos);
  CREATE TABLE snapshots (
    stream_id INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    ts        INTEGER NOT NULL,
    cum_bytes INTEGER NOT NULL,
    state     TEXT    NOT NULL,
    PRIMARY KEY (stream_id, seq)
  ) WITHOUT ROWID;
  CREATE INDEX snapshots_by_ts ON snapshots (stream_id, ts, seq);
  CREATE TABLE producers (
    stream_id   INTEGER NOT NULL,
    producer_id TEXT    NOT NULL,
    epoch       INTEGER NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (stream_id, producer_id)
  ) WITHOUT ROWID;
  CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
  ) WITHOUT ROWID;
  INSERT INTO meta (key, value) VALUES ('gpos', 0);
  `,
  // 2: the last read or write of each stream, from which a Stream-TTL (sliding) expiry counts.
  `
  ALTER TABLE streams ADD COLUMN touched_ts INTEGER;
  `,
  // 3: no index on gpos. It cost every append a second B-tree insert (about 30% of insert
  // throughput) to serve only multi-stream resumes, which find their place by binary search on seq
  // instead (gpos grows with seq within a stream).
  `
  DROP INDEX entries_by_gpos;
  `,
  // 4: stream closure, forks and soft deletion, and byte marks.
  // - closed: the stream's content is final; appends are refused.
  // - deleted: deleted while forks read through it, so its rows stay until the last of them goes.
  // - fork_of/fork_seq: a fork reads its source's entries up to fork_seq instead of copying them;
  //   fork_snap_seq is the last source snapshot it shares (a source may snapshot its head later);
  //   fork_prefix counts the bytes of the source's next entry it copied as its own first entry.
  // - marks: the log's size after every 1024th entry, so that the size at any seq (what a fork
  //   starts from) is one lookup and a bounded sum away. Filled here for the existing logs.
  `
  ALTER TABLE streams ADD COLUMN closed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE streams ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE streams ADD COLUMN fork_of INTEGER;
  ALTER TABLE streams ADD COLUMN fork_seq INTEGER;
  ALTER TABLE streams ADD COLUMN fork_snap_seq INTEGER;
  ALTER TABLE streams ADD COLUMN fork_prefix INTEGER;
  CREATE INDEX streams_by_fork_of ON streams (fork_of) WHERE fork_of IS NOT NULL;
  CREATE TABLE marks (
    stream_id INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    cum_bytes INTEGER NOT NULL,
    PRIMARY KEY (stream_id, seq)
  ) WITHOUT ROWID;
  INSERT INTO marks (stream_id, seq, cum_bytes)
    SELECT stream_id, seq, cum FROM (
      SELECT stream_id, seq, sum(length(CAST(data AS BLOB))) OVER (PARTITION BY stream_id ORDER BY seq) AS cum
        FROM entries)
     WHERE seq % 1024 = 0;
  `,
]

/** Opens (creating if needed) and migrates the database at `file` (`:memory:` for tests). */
export function openDatabase(file: string, durability: Durability = 'normal'): Database.Database {
  const db = new Database(file)
  try {
    db.pragma('journal_mode = WAL')
    db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`)
    db.pragma('busy_timeout = 5000')
    migrate(db)
    return db
  } catch (error) {
    db.close()
    throw error
  }
}

function migrate(db: Database.Database): void {
  const current = db.pragma('user_version', { simple: true }) as number
  if (current > MIGRATIONS.length) {
    throw new Error(`the database is at schema version ${current}, newer than this server (${MIGRATIONS.length})`)
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version] as string)
      db.pragma(`user_version = ${version + 1}`)
    })()
  }
}
