/**
 * `@statestream/client` in Node: the client sends its requests with undici's `request` (read as
 * a fetch answer, `io/node-fetch.ts`) on a dispatcher that may be injected (a proxy agent, a
 * `MockAgent`, …), or an `Agent` of its own, closed by `client.close()`. Browsers get `browser.ts` instead, which imports nothing of Node.
 */
import { Agent } from 'undici'
import type { Dispatcher } from 'undici'
import { Client } from './client.ts'
import type { ClientOptions, Platform } from './client.ts'
import { requestFetch } from './io/node-fetch.ts'

/** Options of a `StateStreamClient` in Node. */
export interface StateStreamClientOptions extends ClientOptions {
  /** undici dispatcher for every request. Default: an `Agent` the client owns and closes. Not used with `fetch`. */
  dispatcher?: Dispatcher
}

/** A client of one statestream server. */
export class StateStreamClient extends Client {
  constructor(options: StateStreamClientOptions) {
    super(options, nodePlatform(options))
  }
}

function nodePlatform(options: StateStreamClientOptions): Platform {
  if (options.fetch !== undefined) return { fetch: options.fetch }
  const owned = options.dispatcher === undefined ? new Agent({ keepAliveTimeout: 10_000 }) : undefined
  const dispatcher = options.dispatcher ?? (owned as Agent)
  return { fetch: requestFetch(dispatcher), close: async () => owned?.close() }
}

export * from './public-api.ts'
