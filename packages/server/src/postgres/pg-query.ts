/**
 * The one shape of "run a statement" the PostgreSQL engine uses: a pool, a client in a
 * transaction and a scope all provide it.
 */
import type pg from 'pg'

/** Runs `sql` with `params`; resolves with its rows. */
export type Query = <R extends object = Record<string, unknown>>(sql: string, params?: readonly unknown[]) => Promise<pg.QueryResult<R>>

/** `Query` over a pool or a client. */
export function queryOf(target: pg.Pool | pg.ClientBase): Query {
  return <R extends object>(sql: string, params?: readonly unknown[]) => target.query<R>(sql, params as unknown[] | undefined)
}
