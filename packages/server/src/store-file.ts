/**
 * The database file of a store, before it is opened: one server per file, and a clear refusal
 * for a file that cannot be served.
 *
 * Two servers on one file would each cache the heads of the streams and assign the same seqs, so
 * the store holds an exclusive SQLite lock on a companion file, `<file>-lock`, for as long as it
 * is open. The operating system drops the lock when the process ends, however it ends, so a crash
 * never leaves a stale lock behind. The lock is taken before the database is opened: a refused
 * server writes nothing. The companion file is never deleted (deleting a lock file races with a
 * server that is opening it); it stays empty.
 */
import { accessSync, constants, existsSync, rmSync, statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import Database from 'better-sqlite3'

/** Why a store's file cannot be served. */
export type StoreFileProblem = 'in-use' | 'no-directory' | 'not-writable' | 'not-a-database' | 'unusable'

/** A store's file cannot be served; `message` says why in one line, naming the file. */
export class StoreFileError extends Error {
  readonly problem: StoreFileProblem
  readonly file: string

  constructor(problem: StoreFileProblem, file: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreFileError'
    this.problem = problem
    this.file = file
  }
}

/** The companion file whose lock marks `file` as served. */
export function lockFileOf(file: string): string {
  return `${file}-lock`
}

/**
 * Checks that `file` can be served, takes its lock, and returns the function that releases it.
 * Throws a `StoreFileError` when the file is served already or cannot be served at all.
 */
export function lockStoreFile(file: string): () => void {
  const directory = dirname(resolve(file))
  if (!existsSync(directory) || !statSync(directory).isDirectory()) {
    throw new StoreFileError('no-directory', file, `cannot open ${file}: the directory ${directory} does not exist`)
  }
  const exists = existsSync(file)
  if (exists && !statSync(file).isFile()) throw new StoreFileError('not-a-database', file, `cannot open ${file}: it is not a file`)
  try {
    // A store creates its WAL files beside the database, so the directory must be writable too.
    accessSync(directory, constants.W_OK)
    if (exists) accessSync(file, constants.R_OK | constants.W_OK)
  } catch (error) {
    const what = exists ? 'the file' : `the directory ${directory}`
    throw new StoreFileError('not-writable', file, `cannot open ${file}: ${what} is not writable`, { cause: error })
  }
  const lockFile = lockFileOf(file)
  const created = !existsSync(lockFile)
  let lock: Database.Database
  try {
    lock = new Database(lockFile, { timeout: 0 })
    lock.pragma('locking_mode = EXCLUSIVE')
    // Never committed: the transaction holds the lock until the connection closes.
    lock.exec('BEGIN EXCLUSIVE')
  } catch (error) {
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') {
      throw new StoreFileError('in-use', file, `${file} is already served by another statestream server (it holds ${lockFile})`)
    }
    throw new StoreFileError('not-writable', file, `cannot lock ${lockFile}: ${(error as Error).message}`, { cause: error })
  }
  const release = (): void => {
    if (lock.open) lock.close()
  }
  try {
    if (exists) checkContent(file)
  } catch (error) {
    release()
    // This attempt made the lock file for a file that cannot be served: leave nothing behind.
    if (created) rmSync(lockFile, { force: true })
    throw error
  }
  return release
}

/** The error of a database that failed to open or migrate, as a `StoreFileError`. */
export function openFailure(file: string, error: unknown): StoreFileError {
  if (error instanceof StoreFileError) return error
  const code = (error as { code?: unknown }).code
  if (code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN' || code === 'SQLITE_PERM') {
    return new StoreFileError('not-writable', file, `cannot open ${file}: it cannot be written`, { cause: error })
  }
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') {
    return new StoreFileError('not-a-database', file, `cannot open ${file}: it is not an SQLite database`, { cause: error })
  }
  return new StoreFileError('unusable', file, `cannot open ${file}: ${(error as Error).message}`, { cause: error })
}

/** Refuses, without writing, a file that is not a statestream database. */
function checkContent(file: string): void {
  if (statSync(file).size === 0) return
  let db: Database.Database | undefined
  try {
    db = new Database(file, { readonly: true, fileMustExist: true })
    const version = db.pragma('user_version', { simple: true }) as number
    const tables = (db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'").get() as { n: number }).n
    if (version === 0 && tables > 0) {
      throw new StoreFileError('not-a-database', file, `cannot open ${file}: it is an SQLite database of another application`)
    }
  } catch (error) {
    throw openFailure(file, error)
  } finally {
    db?.close()
  }
}
