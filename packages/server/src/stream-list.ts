/**
 * The list of streams, page by page in name order (`GET /v1/streams`). Each listed stream is read
 * through the store's own lookup, so the list agrees with every other route (cached heads,
 * expiry, deletion).
 */
import type { RowStore } from './storage-engine.ts'
import type { StreamInfo } from './stream-types.ts'

/** One page of the list. */
export interface StreamPage {
  streams: StreamInfo[]
  /** The name to list after for the next page, or `null` when this is the last one. */
  next: string | null
}

export class StreamList {
  readonly #rows: RowStore
  readonly #find: (name: string) => StreamInfo | undefined

  /** @param find the store's lookup: `undefined` for a stream that does not exist (or has expired). */
  constructor(rows: RowStore, find: (name: string) => StreamInfo | undefined) {
    this.#rows = rows
    this.#find = find
  }

  /**
   * Up to `limit` streams whose names start with `prefix`, in name order, after the name `after`
   * (`''`: from the first).
   */
  page(prefix: string, after: string, limit: number): StreamPage {
    const upper = prefixEnd(prefix)
    const streams: StreamInfo[] = []
    let from = after
    // Expired streams still have rows until their name is reused: skip them, and read on so that
    // a page is short only at the end of the list.
    for (;;) {
      const want = limit - streams.length
      const rows = this.#rows.names(from, prefix, upper, want)
      for (const name of rows) {
        const info = this.#find(name)
        if (info !== undefined) streams.push(info)
        from = name
      }
      if (rows.length < want) return { streams, next: null }
      if (streams.length === limit) return { streams, next: from }
    }
  }
}

/** The smallest string greater than every string that starts with `prefix`; none for `''`. */
function prefixEnd(prefix: string): string | undefined {
  if (prefix === '') return undefined
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1)
}
