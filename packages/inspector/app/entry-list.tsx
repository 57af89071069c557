/**
 * The entries of the window at T, with their seq, ts and mutation: a virtual list (only the rows
 * in view are in the page), so a window of a hundred thousand entries scrolls as lightly as one of
 * ten. The entry at T is highlighted and scrolled into view; clicking an entry moves T to it.
 */
import type { Entry } from '@statestream/client'
import { useEffect, useRef, useState } from 'preact/hooks'
import { formatTime, shortJson } from './format.ts'

const ROW = 22
const HEIGHT = 320
const OVERSCAN = 8

export interface EntryListProps {
  entries: readonly Entry[]
  /** Seq of the entry at T (highlighted), if it is in this window. */
  current: number | undefined
  onPick: (entry: Entry) => void
}

export function EntryList({ entries, current, onPick }: EntryListProps) {
  const box = useRef<HTMLDivElement>(null)
  const [top, setTop] = useState(0)
  const index = current === undefined ? -1 : entries.findIndex((entry) => entry.seq === current)

  // Keep the entry at T in view as T moves.
  useEffect(() => {
    const element = box.current
    if (element === null || index < 0) return
    const y = index * ROW
    if (y < element.scrollTop || y + ROW > element.scrollTop + HEIGHT) {
      element.scrollTop = Math.max(0, y - HEIGHT / 2)
      setTop(element.scrollTop)
    }
  }, [index, entries])

  const first = Math.max(0, Math.floor(top / ROW) - OVERSCAN)
  const last = Math.min(entries.length, Math.ceil((top + HEIGHT) / ROW) + OVERSCAN)
  const rows = []
  for (let i = first; i < last; i++) {
    const entry = entries[i] as Entry
    rows.push(
      <div
        key={entry.seq}
        class={`entry${i === index ? ' current' : ''}`}
        style={{ top: `${i * ROW}px` }}
        data-seq={entry.seq}
        onClick={() => onPick(entry)}
      >
        <span class="seq">#{entry.seq}</span>
        <span class="ts">{formatTime(entry.ts)}</span>
        <span class="m">{shortJson(entry.m)}</span>
      </div>,
    )
  }
  return (
    <div
      class="entries"
      data-testid="entries"
      data-count={entries.length}
      ref={box}
      style={{ height: `${HEIGHT}px` }}
      onScroll={(event) => setTop((event.target as HTMLDivElement).scrollTop)}
    >
      <div style={{ height: `${entries.length * ROW}px`, position: 'relative' }}>{rows}</div>
    </div>
  )
}
