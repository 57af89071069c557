/**
 * How the store's synchronous code runs over PostgreSQL's asynchronous queries.
 *
 * The store decides everything in synchronous code (planners, the stream catalog, the history
 * reader), written once for both engines: SQLite answers its reads at once. Here a read that has
 * no answer yet throws `Pending` with the query to run; the runner awaits the query, keeps its
 * answer in the operation's `ReadScope`, and runs the operation again from the start, until it
 * finishes without a miss. Each answer is fetched once per operation, so an operation costs one
 * round trip per distinct read (the same as awaiting each), and its code is the SQLite engine's.
 *
 *   run ──▶ read A? miss ──▶ Pending(A) ──▶ await A ──▶ run ──▶ A hit, read B? miss ──▶ … ──▶ result
 *
 * An operation must therefore be a function of its reads: no side effect before its last read
 * that a second run would repeat (write jobs buffer their writes in their scope; see
 * `pg-write-queue.ts`). Code between a read and the runner must let `Pending` through (never catch
 * it), which `isPending` tells.
 */

import type { Query } from './pg-query.ts'

/** A query whose answer an operation needs before it can go on. */
export class Pending {
  readonly key: string
  readonly fetch: () => Promise<unknown>

  constructor(key: string, fetch: () => Promise<unknown>) {
    this.key = key
    this.fetch = fetch
  }
}

/** True when `error` is a read still to be fetched (to be rethrown by any code that catches). */
export function isPending(error: unknown): error is Pending {
  return error instanceof Pending
}

/** The answers one operation has fetched, by query, and how it queries. */
export class ReadScope {
  readonly #answers = new Map<string, unknown>()
  /** Runs a statement for this operation (on its transaction's connection, if it has one). */
  readonly query: Query

  constructor(query: Query) {
    this.query = query
  }

  /** The answer of `key` if fetched; else throws `Pending` with `fetch`. */
  get<T>(key: string, fetch: () => Promise<T>): T {
    if (this.#answers.has(key)) return this.#answers.get(key) as T
    throw new Pending(key, async () => {
      this.#answers.set(key, await fetch())
    })
  }

  /** Records `value` as the answer of `key` (a read fetched ahead, in bulk). */
  set(key: string, value: unknown): void {
    this.#answers.set(key, value)
  }

  /** The answer of `key`, which `has` says is there. */
  answered<T>(key: string): T {
    return this.#answers.get(key) as T
  }

  /** True when `key` has an answer. */
  has(key: string): boolean {
    return this.#answers.has(key)
  }
}

let current: ReadScope | undefined

/** The scope of the operation running now; reads outside an operation are a bug. */
export function currentScope(): ReadScope {
  if (current === undefined) throw new Error('a PostgreSQL read ran outside a store operation')
  return current
}

/** The scope of the operation running now, if any. */
export function activeScope(): ReadScope | undefined {
  return current
}

/**
 * Runs `operation` with `scope` until it completes without a pending read, fetching each one it
 * meets; returns its result or throws its error. `beforeFetch` runs before each fetch (a write
 * job flushes what it must have written first).
 */
export async function runPending<T>(scope: ReadScope, operation: () => T, beforeFetch?: () => Promise<void>): Promise<T> {
  for (;;) {
    const outcome = runOnce(scope, operation)
    if (!(outcome instanceof Pending)) return outcome.value
    await beforeFetch?.()
    await outcome.fetch()
  }
}

/**
 * `compute` of each of `items`, for the operation running now, as parts of it that do not read
 * each other's results (a window for each of 50 streams):
 * - each part is worked out once: a run after a fetch gets the value an earlier run finished,
 *   instead of doing that part again;
 * - every part runs in each run, so the reads that all of the unfinished parts miss are fetched
 *   together (one round trip on a pipelined connection), not one part after another.
 *
 * So an operation of n parts, each d reads deep, takes about d round trips instead of n × d, and
 * does each part's work about once instead of n times. `compute` must be a function of its reads
 * (as the whole operation is), and `key` must name these parts alone within the operation.
 */
export function parts<I, T>(key: string, items: readonly I[], compute: (item: I, index: number) => T): T[] {
  const scope = current
  if (scope === undefined) return items.map(compute)
  const values: T[] = []
  const missing = new Map<string, Pending>()
  items.forEach((item, index) => {
    const slot = `part:${key}:${index}`
    if (scope.has(slot)) {
      values.push(scope.answered<T>(slot))
      return
    }
    try {
      const value = compute(item, index)
      scope.set(slot, value)
      values.push(value)
    } catch (error) {
      if (!(error instanceof Pending)) throw error
      missing.set(error.key, error)
    }
  })
  if (missing.size === 0) return values
  const fetches = [...missing.values()]
  throw new Pending(`parts:${key}`, async () => {
    await Promise.all(fetches.map((pending) => pending.fetch()))
  })
}

/** One run of `operation` in `scope`: its result, or the read it is waiting for. Its errors are thrown. */
export function runOnce<T>(scope: ReadScope, operation: () => T): { value: T } | Pending {
  const outer = current
  current = scope
  try {
    return { value: operation() }
  } catch (error) {
    if (error instanceof Pending) return error
    throw error
  } finally {
    current = outer
  }
}
