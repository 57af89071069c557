/**
 * Connections to the PostgreSQL engine's database: what every client of a store is configured
 * with (the store's schema as its `search_path`, 64-bit integers as JavaScript numbers).
 */
import pg from 'pg'
import type { PostgresOptions } from './pg-options.ts'

const INT8_OID = 20

/** The configuration of every client of the store. */
export function clientConfig(options: Required<PostgresOptions>): pg.ClientConfig {
  return {
    connectionString: options.url,
    // Every statement names its tables unqualified: the schema is the connection's search_path.
    options: `-c search_path=${options.schema}`,
    types: {
      // Positions, seqs, times and sizes are bigint columns; all of them fit a double exactly.
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as pg.CustomTypesConfig['getTypeParser'],
    },
    application_name: 'statestream',
  }
}
