/**
 * The client's requests in Node, when no `fetch` is given: undici's `request` on the client's
 * dispatcher, its answer read through the little of a fetch `Response` the transport uses
 * (`FetchResponse`). undici's own `fetch` builds a WHATWG request, headers and body stream for
 * every call: for a window of 1000 entries that was about as much CPU as receiving it, and a
 * history reads windows one after another.
 *
 * What `fetch` would do that a caller could see is kept: redirects are followed (301, 302 and 303
 * turn into a GET without a body, 307 and 308 repeat the request, at most 20), an abort of the
 * signal rejects with its reason, a failure to connect or a body cut short is an error.
 */
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { BodyReader, FetchLike, FetchResponse } from './transport.ts'

const MAX_REDIRECTS = 20

/** A `FetchLike` sending through `dispatcher` with `request`. */
export function requestFetch(dispatcher: Dispatcher): FetchLike {
  return async (input, init) => {
    let url = new URL(input)
    let method = init.method ?? 'GET'
    let body = bodyOf(init.body)
    const headers = { ...(init.headers as Record<string, string> | undefined) }
    for (let redirects = 0; ; redirects++) {
      const answer = await dispatcher.request({
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: method as Dispatcher.HttpMethod,
        headers,
        ...(body !== undefined && { body }),
        ...(init.signal != null && { signal: init.signal }),
      })
      const location = answer.headers.location
      if (answer.statusCode < 300 || answer.statusCode >= 400 || location === undefined || redirects === MAX_REDIRECTS) {
        return new NodeResponse(answer)
      }
      // Followed as fetch follows it; the redirect's own body is not wanted.
      answer.body.resume()
      url = new URL(String(location), url)
      if (answer.statusCode !== 307 && answer.statusCode !== 308 && method !== 'HEAD') {
        method = 'GET'
        body = undefined
        delete headers['content-type']
      }
    }
  }
}

/** A request body as undici takes it: text or bytes (what the client sends). */
function bodyOf(body: RequestInit['body']): string | Uint8Array | undefined {
  if (body === undefined || body === null) return undefined
  if (typeof body === 'string' || body instanceof Uint8Array) return body
  if (body instanceof ArrayBuffer) return new Uint8Array(body)
  if (ArrayBuffer.isView(body)) return new Uint8Array(body.buffer, body.byteOffset, body.byteLength)
  throw new TypeError('the client sends text or bytes only')
}

class NodeResponse implements FetchResponse {
  readonly status: number
  readonly ok: boolean
  readonly headers: NodeHeaders
  readonly #body: Readable

  constructor(answer: Dispatcher.ResponseData) {
    this.status = answer.statusCode
    this.ok = answer.statusCode >= 200 && answer.statusCode < 300
    this.headers = new NodeHeaders(answer.headers)
    this.#body = answer.body
  }

  get body(): { getReader(): BodyReader } {
    return { getReader: () => new NodeBodyReader(this.#body) }
  }

  async text(): Promise<string> {
    return (await this.#bytes()).toString('utf8')
  }

  async arrayBuffer(): Promise<ArrayBuffer> {
    const bytes = await this.#bytes()
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer
  }

  async #bytes(): Promise<Buffer> {
    const chunks: Buffer[] = []
    for await (const chunk of this.#body) chunks.push(chunk as Buffer)
    return Buffer.concat(chunks)
  }
}

/** A response's headers, as `Headers.forEach` and `get` give them (several values joined by ", "). */
class NodeHeaders {
  readonly #raw: Record<string, string | string[] | undefined>

  constructor(raw: Record<string, string | string[] | undefined>) {
    this.#raw = raw
  }

  get(name: string): string | null {
    const value = this.#raw[name.toLowerCase()]
    return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value
  }

  forEach(visit: (value: string, key: string) => void): void {
    for (const [key, value] of Object.entries(this.#raw)) {
      if (value !== undefined) visit(Array.isArray(value) ? value.join(', ') : value, key.toLowerCase())
    }
  }
}

/** A body read chunk by chunk, as a stream reader reads (`cancel` ends a pending read). */
class NodeBodyReader implements BodyReader {
  readonly #body: Readable
  readonly #chunks: AsyncIterator<Buffer>

  constructor(body: Readable) {
    this.#body = body
    this.#chunks = body[Symbol.asyncIterator]()
  }

  async read(): Promise<{ done: true; value?: Uint8Array | undefined } | { done: false; value: Uint8Array }> {
    const next = await this.#chunks.next()
    return next.done === true ? { done: true } : { done: false, value: next.value }
  }

  async cancel(): Promise<void> {
    this.#body.destroy()
  }

  releaseLock(): void {
    // Nothing is locked: the body is this reader's alone.
  }
}
