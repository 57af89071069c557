/**
 * The inspector's one client of the server that serves it, and what the page tells about its own
 * traffic: every request the client makes and every byte it receives go through `fetch` here and
 * are counted, so the page can show that scrubbing held windows costs nothing.
 */
import { StateStreamClient } from '@statestream/client'

/** Requests made and bytes received so far. */
export interface Traffic {
  requests: number
  bytes: number
}

export class Connection {
  readonly client: StateStreamClient
  readonly traffic: Traffic = { requests: 0, bytes: 0 }
  readonly #listeners = new Set<() => void>()
  #token = ''

  /** `baseUrl`: the statestream server (the one serving the page, by default). */
  constructor(baseUrl: string, token: string) {
    this.#token = token
    this.client = new StateStreamClient({
      baseUrl,
      headers: () => (this.#token === '' ? {} : { authorization: `Bearer ${this.#token}` }),
      fetch: (input, init) => this.#fetch(input, init),
    })
  }

  /** The bearer token sent from now on ('' for none). */
  set token(token: string) {
    this.#token = token
  }

  /** Calls `listener` after every change of `traffic`; returns the unsubscribe. */
  onTraffic(listener: () => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  async #fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
    this.traffic.requests += 1
    this.#notify()
    const response = await fetch(input, init)
    if (response.body === null) return response
    // Count the bytes as they arrive (a live tail's too), without holding them.
    const counter = new TransformStream<Uint8Array, Uint8Array>({
      transform: (chunk, controller) => {
        this.traffic.bytes += chunk.byteLength
        this.#notify()
        controller.enqueue(chunk)
      },
    })
    return new Response(response.body.pipeThrough(counter), {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    })
  }

  #notify(): void {
    for (const listener of this.#listeners) listener()
  }
}
