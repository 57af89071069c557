/**
 * One stream: its configuration, the timeline of its windows, the time slider, the state at T
 * with the change of the entry at T highlighted, and the entries of the window at T. While the
 * slider moves, every position asks the client for the window covering it: held windows answer at
 * once and nothing is fetched again, so a second pass over a range makes no request. The live
 * cursor tails the stream while it is shown; live mode makes T follow it as entries arrive.
 */
import type { StateStream, StreamInfo, WindowBounds, WindowView } from '@statestream/client'
import { entriesUpToTs } from '@statestream/common'
import { useEffect, useRef, useState } from 'preact/hooks'
import { EntryList } from './entry-list.tsx'
import { formatTime } from './format.ts'
import { JsonTree } from './json-tree.tsx'
import { pointView } from './point-view.ts'
import type { PointView } from './point-view.ts'
import { Timeline } from './timeline.tsx'

export interface StreamViewProps {
  stream: StateStream
  at: number | undefined
  onAt: (ts: number) => void
  /** Told of each new head seq (the comparison reads again when entries arrive). */
  onHead: (seq: number) => void
  onError: (err: unknown) => void
}

/**
 * The view at `at`. When T falls on a window's start, the entry at T is the last of the window
 * before (the snapshot follows it): that window is shown, so the entry and its change are too.
 */
async function showAt(stream: StateStream, at: number): Promise<PointView> {
  const window = await stream.window({ at })
  const start = window.start
  if (start === null || start.seq === 0 || entriesUpToTs(window.entries, at) > 0) return pointView(window, at)
  return pointView(await stream.window({ seq: start.seq - 1 }), at)
}

/** How often the window layout is read again while live entries arrive, ms. */
const LIVE_LAYOUT_MS = 2000

export function StreamView({ stream, at, onAt, onHead, onError }: StreamViewProps) {
  const [info, setInfo] = useState<StreamInfo>()
  const [windows, setWindows] = useState<readonly WindowBounds[]>([])
  const [held, setHeld] = useState<readonly WindowView[]>([])
  const [head, setHead] = useState<{ seq: number; ts: number }>()
  const [view, setView] = useState<PointView>()
  const [live, setLive] = useState(false)
  const [raw, setRaw] = useState(false)
  const [tick, setTick] = useState(0)
  const ticket = useRef(0)

  // The stream's configuration and layout, once per stream; T starts at its head.
  useEffect(() => {
    let current = true
    setView(undefined)
    setLive(false)
    // The open window gives the head's ts (and is the first thing shown, at T = the head).
    Promise.all([stream.info(), stream.windowBounds(), stream.window({ at: 'now' })]).then(([found, layout, open]) => {
      if (!current) return
      setInfo(found)
      setWindows(layout)
      const last = open.entries[open.entries.length - 1]
      const headTs = last?.ts ?? open.start?.ts ?? Date.now()
      setHead({ seq: found.seq, ts: headTs })
      onAt(headTs)
    }, onError)
    const subscription = stream.windows$.subscribe(setHeld)
    return () => {
      current = false
      subscription.unsubscribe()
    }
  }, [stream])

  // The state at T, from the window covering it. Every T asks (held windows answer at once);
  // only the answer for the latest T is shown.
  useEffect(() => {
    if (at === undefined) return
    const mine = ++ticket.current
    showAt(stream, at).then((view) => {
      if (mine === ticket.current) setView(view)
    }, onError)
  }, [stream, at, tick])

  // The live cursor, while the stream is shown: it keeps the open window current without asking
  // again (so scrubbing into it costs nothing), and moves the head. Live mode makes T follow it.
  const follow = useRef(live)
  follow.current = live
  useEffect(() => {
    let layoutDue = Date.now() + LIVE_LAYOUT_MS
    const subscription = stream.live$.subscribe({
      next: ({ seq, ts }) => {
        setHead((known) => (known === undefined || seq > known.seq ? { seq, ts } : known))
        if (follow.current) onAt(ts)
        onHead(seq)
        setTick((n) => n + 1)
        // Snapshots close windows as entries arrive: read the layout again now and then.
        const now = Date.now()
        if (now >= layoutDue) {
          layoutDue = now + LIVE_LAYOUT_MS
          stream.windowBounds().then(setWindows, onError)
        }
      },
      error: onError,
    })
    return () => subscription.unsubscribe()
  }, [stream])

  // Turning live mode on jumps to the head.
  useEffect(() => {
    if (live && head !== undefined) onAt(head.ts)
  }, [live])

  if (info === undefined || head === undefined) return <section class="stream">loading {stream.name}…</section>
  const from = windows[0]?.start.ts ?? head.ts
  const to = Math.max(from + 1, head.ts)
  const shown = at ?? to
  const policy = info.snapshot
  return (
    <section class="stream" data-testid="stream-view" data-stream={stream.name}>
      <header>
        <h2>{stream.name}</h2>
        <span class="meta">
          #{head.seq} · {windows.length} windows{info.closed ? ' · closed' : ''}
          {policy !== undefined && ` · snapshots every ${policy.entries} entries / ${policy.bytes} B / ${policy.ms} ms`}
        </span>
        <label class="live">
          <input type="checkbox" data-testid="live" checked={live} disabled={info.closed} onChange={(event) => setLive((event.target as HTMLInputElement).checked)} />
          live
        </label>
      </header>
      <Timeline windows={windows} held={held} from={from} to={to} at={shown} onPick={onAt} />
      <div class="span">
        <span>{formatTime(from)}</span>
        <span>windows to scale · snapshot marks · entry density · held windows underlined</span>
        <span>{formatTime(to)}</span>
      </div>
      <input
        type="range"
        class="slider"
        data-testid="slider"
        min={from}
        max={to}
        step={1}
        value={shown}
        onInput={(event) => onAt(Number((event.target as HTMLInputElement).value))}
      />
      <p class="at" data-testid="at" data-at={shown} data-seq={view?.seq ?? ''}>
        T = {formatTime(shown)}
        {view === undefined ? '' : view.seq === null ? ' · before the stream existed' : ` · after #${view.seq} (${formatTime(view.ts ?? 0)})`}
        {view?.entry !== undefined && <span class="change"> · entry #{view.entry.seq} changed {view.changed.size} member{view.changed.size === 1 ? '' : 's'}</span>}
      </p>
      <div class="panes">
        <div class="pane">
          <h3>
            state at T{' '}
            <button type="button" class="raw" data-testid="raw" onClick={() => setRaw(!raw)}>
              {raw ? 'tree' : 'raw'}
            </button>
          </h3>
          {view === undefined ? null : view.state === undefined ? (
            <p class="empty">no state: the stream did not exist yet</p>
          ) : raw ? (
            <pre data-testid="state-raw">{JSON.stringify(view.state)}</pre>
          ) : (
            <JsonTree value={view.state} changed={view.changed} />
          )}
        </div>
        <div class="pane">
          <h3>entries of the window at T ({view?.entries.length ?? 0})</h3>
          <EntryList entries={view?.entries ?? []} current={view?.entry?.seq} onPick={(entry) => onAt(entry.ts)} />
        </div>
      </div>
    </section>
  )
}
