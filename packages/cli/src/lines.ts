/**
 * Lines in and out: NDJSON read from stdin or a file one line at a time, and output written in
 * chunks with backpressure (a million lines to a pipe neither pile up in memory nor cost a write
 * call each).
 */
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import type { Readable, Writable } from 'node:stream'

/** The lines of `input`, numbered from 1, blank lines skipped. Stops when `signal` aborts. */
export async function* readLines(input: Readable, signal?: AbortSignal): AsyncGenerator<{ line: string; number: number; bytes: number }> {
  const reader = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
  const stop = () => reader.close()
  signal?.addEventListener('abort', stop, { once: true })
  let number = 0
  try {
    for await (const line of reader) {
      number += 1
      if (signal?.aborted) return
      if (line.trim() === '') continue
      yield { line, number, bytes: Buffer.byteLength(line) + 1 }
    }
  } finally {
    signal?.removeEventListener('abort', stop)
    reader.close()
  }
}

/** Chunk size of buffered output: large enough to make writes cheap, small enough to show progress. */
const CHUNK = 64 * 1024

/** Buffered line output on a writable stream, waiting for `drain` when the reader is slower. */
export class LineWriter {
  readonly #out: Writable
  readonly #write: (text: string) => boolean
  #pending: string[] = []
  #size = 0
  /** Bytes handed to the stream so far (UTF-16 units: exact for ASCII, close otherwise). */
  written = 0

  /** `write` sends text to `out` (default: `out.write`); a progress bar passes its own, to redraw around it. */
  constructor(out: Writable, write?: (text: string) => boolean) {
    this.#out = out
    this.#write = write ?? ((text) => out.write(text))
  }

  /** Adds one line (without its newline). Resolves at once unless the stream asks to wait. */
  async line(text: string): Promise<void> {
    this.#pending.push(text)
    this.#size += text.length + 1
    if (this.#size >= CHUNK) await this.flush()
  }

  /** Writes what is buffered, waiting for `drain` when the stream is full. */
  async flush(): Promise<void> {
    if (this.#pending.length === 0) return
    const text = `${this.#pending.join('\n')}\n`
    this.written += text.length
    this.#pending = []
    this.#size = 0
    if (!this.#write(text)) await once(this.#out, 'drain')
  }
}
