/**
 * What every command runs with: the client of the server named by `--url` (or STATESTREAM_URL),
 * carrying `--token` (or STATESTREAM_TOKEN) as a bearer token, the signal that Ctrl-C aborts, and
 * the process's output streams.
 */
import { StateStreamClient } from '@statestream/client'
import { DEFAULT_PORT } from '@statestream/common'
import { usageError } from './exit-codes.ts'

/** The default server: the standalone server's default address. */
export const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}`

/** Options every command accepts (set on the program, read by each command). */
export interface GlobalOptions {
  url: string
  token?: string
}

/** The environment of one command run. */
export interface Context {
  client: StateStreamClient
  /** Aborted by Ctrl-C: long work stops at the next entry and the command exits 130. */
  signal: AbortSignal
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  stdin: NodeJS.ReadStream
  /** The clock reading time arguments are relative to. */
  now: number
}

/** A client of the server `options` names. */
export function connect(options: GlobalOptions): StateStreamClient {
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    throw usageError(`--url "${options.url}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`--url "${options.url}" must be http:// or https://`)
  }
  const token = options.token
  return new StateStreamClient({
    baseUrl: url.href,
    ...(token !== undefined && token !== '' && { headers: { authorization: `Bearer ${token}` } }),
  })
}
