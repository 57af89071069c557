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

/** The server a run talks to, for the one request the client has no call for (see `import-target.ts`). */
export interface ServerAddress {
  /** Its base URL, without a trailing slash (a path prefix is kept). */
  baseUrl: string
  /** Headers of every request: the bearer token, when there is one. */
  headers: Record<string, string>
}

/** The environment of one command run. */
export interface Context {
  client: StateStreamClient
  server: ServerAddress
  /** Aborted by Ctrl-C: long work stops at the next entry and the command exits 130. */
  signal: AbortSignal
  stdout: NodeJS.WriteStream
  stderr: NodeJS.WriteStream
  stdin: NodeJS.ReadStream
  /** The clock reading time arguments are relative to. */
  now: number
}

/** The client of the server `options` names, and that server's address; `urlFrom` names where the URL came from, for errors. */
export function connect(options: GlobalOptions, urlFrom = '--url'): { client: StateStreamClient; server: ServerAddress } {
  const server = serverAddress(options, urlFrom)
  return { client: new StateStreamClient({ baseUrl: server.baseUrl, headers: server.headers }), server }
}

function serverAddress(options: GlobalOptions, urlFrom: string): ServerAddress {
  let url: URL
  try {
    url = new URL(options.url)
  } catch {
    throw usageError(`${urlFrom} "${options.url}" is not a URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw usageError(`${urlFrom} "${options.url}" must be http:// or https://`)
  }
  const token = options.token
  return {
    baseUrl: `${url.origin}${url.pathname.replace(/\/$/, '')}`,
    headers: token !== undefined && token !== '' ? { authorization: `Bearer ${token}` } : {},
  }
}
