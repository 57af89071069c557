/**
 * Lines in and out: NDJSON read from stdin or a file one line at a time, and output written in
 * chunks with backpressure (a million lines to a pipe neither pile up in memory nor cost a write
 * call each).
 */
import { once } from 'node:events'
import { addAbortSignal } from 'node:stream'
import type { Readable, Writable } from 'node:stream'

/** One line read: its text (without the newline), its number from 1, its bytes, and whether a newline ended it. */
export interface Line {
  line: string
  number: number
  bytes: number
  /** False for a last line that the input ends inside (a file cut short, or written without a final newline). */
  terminated: boolean
}

const NEWLINE = 0x0a

/** The lines of `input` (`\n` or `\r\n`), numbered from 1, blank lines skipped. Stops when `signal` aborts. */
export async function* readLines(input: Readable, signal?: AbortSignal): AsyncGenerator<Line> {
  if (signal !== undefined) addAbortSignal(signal, input)
  // A line split across chunks: its pieces, joined once it ends (a long line costs no copying per chunk).
  let pieces: Buffer[] = []
  let number = 0
  const take = (text: string, bytes: number, terminated: boolean): Line | undefined => {
    number += 1
    const line = text.endsWith('\r') ? text.slice(0, -1) : text
    return line.trim() === '' ? undefined : { line, number, bytes, terminated }
  }
  try {
    for await (const chunk of input as AsyncIterable<Buffer | string>) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk
      let start = 0
      for (let end = buffer.indexOf(NEWLINE, start); end !== -1; end = buffer.indexOf(NEWLINE, start)) {
        pieces.push(buffer.subarray(start, end))
        const whole = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces)
        pieces = []
        start = end + 1
        const line = take(whole.toString('utf8'), whole.length + 1, true)
        if (line !== undefined) yield line
        if (signal?.aborted) return
      }
      if (start < buffer.length) pieces.push(buffer.subarray(start))
    }
  } catch (err) {
    // Aborted: the input was destroyed to stop waiting for it.
    if (signal?.aborted) return
    throw err
  }
  if (pieces.length > 0) {
    const whole = Buffer.concat(pieces)
    const line = take(whole.toString('utf8'), whole.length, false)
    if (line !== undefined) yield line
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
    // A stream that failed (a file on a full disk) would never drain: its error is the answer.
    if (this.#out.errored !== null) throw this.#out.errored
    if (this.#pending.length === 0) return
    const text = `${this.#pending.join('\n')}\n`
    this.written += text.length
    this.#pending = []
    this.#size = 0
    if (!this.#write(text)) await once(this.#out, 'drain')
  }
}
