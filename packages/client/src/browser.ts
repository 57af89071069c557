/**
 * `@statestream/client` in browsers (the `browser` condition of its exports): the client sends
 * its requests with the page's `fetch`, and nothing here or below reaches a Node built-in.
 */
import { Client } from './client.ts'
import type { ClientOptions } from './client.ts'

/** Options of a `StateStreamClient` in a browser. */
export type StateStreamClientOptions = ClientOptions

/** A client of one statestream server. */
export class StateStreamClient extends Client {
  constructor(options: StateStreamClientOptions) {
    super(options, { fetch: options.fetch ?? ((input, init) => globalThis.fetch(input, init)) })
  }
}

export * from './public-api.ts'
