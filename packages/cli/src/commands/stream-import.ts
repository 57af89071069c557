/**
 * The import of one stream of an export (see `import.ts` for the guarantees). Entries arrive one
 * at a time; they are appended in batches, one request in flight while the next batch is read,
 * each batch seq-checked with `Stream-Seq` so that none is ever stored twice.
 */
import { ErrorCode } from '@statestream/client'
import type { Entry, Message, StateStream, StateStreamClient, StreamInfo } from '@statestream/client'
import { encodeOffset, jsonEqual } from '@statestream/common'
import { CliError, EXIT, usageError } from '../exit-codes.ts'
import type { StreamHeader } from '../export-format.ts'

/** Largest body of one append, in bytes: well under the server's default limit (4 MiB). */
const BATCH_BYTES = 1024 * 1024

export class StreamImport {
  readonly name: string
  readonly #stream: StateStream
  readonly #header: StreamHeader
  readonly #batchSize: number
  /** The target's head when the import of this stream began: entries up to it are already there. */
  readonly #head: number
  /** The target's entry at `#head`, to check that it is the export's (the same history). */
  readonly #check: Entry | undefined
  /** The next seq the export must give. */
  #expect = 1
  #batch: Message[] = []
  #batchBytes = 0
  #inFlight: Promise<void> = Promise.resolve()
  #appended = 0

  private constructor(stream: StateStream, header: StreamHeader, batch: number, head: number, check: Entry | undefined) {
    this.name = header.stream
    this.#stream = stream
    this.#header = header
    this.#batchSize = batch
    this.#head = head
    this.#check = check
  }

  /** Creates the target stream, or checks the one there is of the same history, and tells where it stands. */
  static async open(client: StateStreamClient, header: StreamHeader, options: { batch: number; signal: AbortSignal }): Promise<StreamImport> {
    const { signal } = options
    const stream = client.stream(header.stream)
    let info = await infoOrUndefined(stream, signal)
    if (info === undefined) {
      await stream.create({ snapshot: header.snapshot, createdAt: header.createdAt })
      info = await stream.info({ signal })
    }
    const conflict = (why: string) => new CliError(ErrorCode.STREAM_CONFLICT, `"${header.stream}" on the server ${why}`, EXIT.CONFLICT)
    if (info.kind !== 'state' || info.snapshot === undefined) throw conflict('is not a state stream')
    const policy = info.snapshot
    if (policy.entries !== header.snapshot.entries || policy.bytes !== header.snapshot.bytes || policy.ms !== header.snapshot.ms) {
      throw conflict(`has another snapshot policy (${JSON.stringify(policy)}, the export's is ${JSON.stringify(header.snapshot)})`)
    }
    if (info.seq > header.seq) throw conflict(`has ${info.seq} entries, more than the export's ${header.seq}`)
    const first = await stream.window({ seq: 0 }, { signal })
    if (first.start?.ts !== header.createdAt) throw conflict(`was created at another time (${first.start?.ts}, the export's is ${header.createdAt})`)
    let check: Entry | undefined
    if (info.seq > 0) {
      // The window for seq head-1 holds entry head (a window holds the entries after its start).
      const window = await stream.window({ seq: info.seq - 1 }, { signal })
      check = window.entries.find((entry) => entry.seq === info.seq)
    }
    if (info.closed && info.seq < header.seq) throw conflict(`is closed at seq ${info.seq}, before the export's ${header.seq}`)
    return new StreamImport(stream, header, options.batch, info.seq, check)
  }

  /** Takes the export's next entry: skipped when the target has it, else batched for appending. */
  async entry(entry: Entry, at: string): Promise<void> {
    if (entry.seq !== this.#expect) throw usageError(`${at}: expected entry ${this.#expect} of "${this.name}", found ${entry.seq}`)
    if (entry.seq > this.#header.seq) throw usageError(`${at}: entry ${entry.seq} is past the seq ${this.#header.seq} its header gives`)
    this.#expect += 1
    if (entry.seq < this.#head) return
    if (entry.seq === this.#head) {
      const there = this.#check
      if (there === undefined || there.ts !== entry.ts || !jsonEqual(there.m, entry.m)) {
        throw new CliError(ErrorCode.STREAM_CONFLICT, `"${this.name}" on the server has another entry ${entry.seq}: it is another history`, EXIT.CONFLICT)
      }
      return
    }
    const message = { ...entry.m, ts: entry.ts } as Message
    this.#batch.push(message)
    this.#batchBytes += JSON.stringify(message).length + 1
    if (this.#batch.length >= this.#batchSize || this.#batchBytes >= BATCH_BYTES) await this.#send()
  }

  /** After the stream's last entry: appends what is left, and checks the target's head is the export's. */
  async finish(entries: number, at: string): Promise<string> {
    if (entries !== this.#header.seq || this.#expect !== entries + 1) {
      throw usageError(`${at}: "${this.name}" should have ${this.#header.seq} entries, the file has ${this.#expect - 1}`)
    }
    await this.#send()
    await this.#inFlight
    const info = await this.#stream.info()
    if (info.seq !== this.#header.seq) {
      throw new CliError(ErrorCode.STREAM_CONFLICT, `"${this.name}" ends at seq ${info.seq}, the export at ${this.#header.seq}`, EXIT.CONFLICT)
    }
    if (this.#header.closed && !info.closed) await this.#stream.close()
    const skipped = Math.max(this.#head, 0)
    return `imported ${this.name}: ${this.#appended} entries appended, ${skipped} already there, seq ${info.seq}${this.#header.closed ? ', closed' : ''}`
  }

  /** Waits for the request in flight, whatever its outcome (before stopping). */
  async settle(): Promise<void> {
    await this.#inFlight.catch(() => undefined)
  }

  /** Starts appending the batch once the previous request succeeded (in order: Stream-Seq requires it). */
  async #send(): Promise<void> {
    // The previous request's failure surfaces here, before anything later is sent.
    await this.#inFlight
    if (this.#batch.length === 0) return
    const batch = this.#batch
    const last = this.#expect - 1
    this.#batch = []
    this.#batchBytes = 0
    this.#inFlight = this.#append(batch, last)
    // Rejections are reported by the next `#send` or `finish`; until then they are not unhandled.
    this.#inFlight.catch(() => undefined)
  }

  async #append(batch: Message[], last: number): Promise<void> {
    try {
      // No signal: a batch on its way is let through, so Ctrl-C stops between two batches.
      const { seq } = await this.#stream.append(batch, { streamSeq: encodeOffset(last) })
      if (seq !== last) {
        throw new CliError(ErrorCode.STREAM_CONFLICT, `"${this.name}" took other appends during the import (head ${seq}, expected ${last})`, EXIT.CONFLICT)
      }
      this.#appended += batch.length
    } catch (err) {
      // Seq-checked: the batch is there already when another import (or an earlier try) stored it.
      if ((err as { code?: unknown }).code !== ErrorCode.STREAM_SEQ_REGRESSION) throw err
      const info = await this.#stream.info()
      if (info.seq < last) throw err
    }
  }
}

async function infoOrUndefined(stream: StateStream, signal: AbortSignal): Promise<StreamInfo | undefined> {
  try {
    return await stream.info({ signal })
  } catch (err) {
    if ((err as { code?: unknown }).code === ErrorCode.STREAM_NOT_FOUND) return undefined
    throw err
  }
}
