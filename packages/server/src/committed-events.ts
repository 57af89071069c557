/**
 * What a shared engine's feed read (entries, closes, deletes committed by any replica, in commit
 * order) means for live readers: the same `StoreEvent`s a single server emits after its own
 * commits. Consecutive entries of one stream make one `append` (with the bounds where a snapshot
 * closed a window), up to about `MAX_EVENT_BYTES`: a read that caught up on many commits must
 * not hand a reader one burst larger than what one commit would have (a reader's buffer budget
 * is counted per event). A close or delete is its own event, in its place. Pure.
 */
import type { Bound } from '@statestream/common'
import type { CommittedItem } from './storage-engine.ts'
import type { StoreEvent, StoredEntry, StreamInfo } from './stream-types.ts'

/**
 * The events of `items`, each with its stream's record from `records` (read after the items, so
 * at least as new), or a stand-in naming the stream when its rows are gone (purged by a delete).
 */
/** Bytes of entries past which a run of one stream's entries is told as a further event. */
export const MAX_EVENT_BYTES = 16 * 1024

export function committedEvents(items: readonly CommittedItem[], records: ReadonlyMap<number, StreamInfo>): StoreEvent[] {
  const events: StoreEvent[] = []
  let run: { stream: StreamInfo; entries: StoredEntry[]; snapshots: Bound[] } | undefined
  let bytes = 0
  const flush = (): void => {
    if (run !== undefined) events.push({ type: 'append', ...run })
    run = undefined
  }
  for (const item of items) {
    if (item.type === 'entry') {
      if (run === undefined || run.stream.id !== item.streamId || bytes >= MAX_EVENT_BYTES) {
        flush()
        const stream = records.get(item.streamId)
        // A stream purged since: no reader can follow it any more.
        if (stream === undefined) continue
        run = { stream, entries: [], snapshots: [] }
        bytes = 0
      }
      run.entries.push(item.entry)
      bytes += item.entry.data.length
      if (item.snapshot) run.snapshots.push({ seq: item.entry.seq, ts: item.entry.ts })
      continue
    }
    // A closed stream's end is told once, by its close: not also as a window closing there (the
    // append it came with was committed with it, so its run is the one just before).
    if (item.kind === 'close' && run !== undefined && run.stream.id === item.streamId && run.snapshots.at(-1)?.seq === item.seq) run.snapshots.pop()
    flush()
    const bound = { seq: item.seq, ts: item.ts }
    const stream = records.get(item.streamId) ?? goneStream(item.streamId, item.name, bound)
    if (item.kind === 'close') events.push({ type: 'close', stream: { ...stream, closed: true }, bound })
    else events.push({ type: 'delete', stream })
  }
  flush()
  return events
}

/** The little that is still known of a stream whose rows are gone: its id, name and last head. */
function goneStream(id: number, name: string, head: Bound): StreamInfo {
  return {
    id,
    name,
    contentType: 'application/octet-stream',
    kind: 'plain',
    createdTs: head.ts,
    headSeq: head.seq,
    headTs: head.ts,
    totalBytes: 0,
    ttlSeconds: null,
    expiresAt: null,
    touchedTs: head.ts,
    policy: { entries: 0, bytes: 0, ms: 0 },
    lastStreamSeq: null,
    closed: false,
    segments: [],
    fork: null,
  }
}
