/**
 * The timeline: a stream's whole span on a canvas, its windows drawn to scale (alternating
 * shades), a mark at each snapshot (each window's start), the entry density of each window as a
 * bar, the windows the client holds underlined, and the time shown as a cursor. A canvas draws a
 * hundred thousand windows as cheaply as ten; clicking it moves the time there.
 */
import type { WindowBounds, WindowView } from '@statestream/client'
import { useEffect, useRef } from 'preact/hooks'

export interface TimelineProps {
  windows: readonly WindowBounds[]
  held: readonly WindowView[]
  from: number
  to: number
  at: number
  onPick: (ts: number) => void
}

const HEIGHT = 72
const HELD = 6

export function Timeline({ windows, held, from, to, at, onPick }: TimelineProps) {
  const canvas = useRef<HTMLCanvasElement>(null)

  useEffect(() => {
    const element = canvas.current
    if (element === null) return
    const draw = () => paint(element, windows, held, from, to, at)
    draw()
    const observer = new ResizeObserver(draw)
    observer.observe(element)
    return () => observer.disconnect()
  }, [windows, held, from, to, at])

  const pick = (event: MouseEvent) => {
    const element = canvas.current
    if (element === null) return
    const box = element.getBoundingClientRect()
    const fraction = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width))
    onPick(Math.round(from + fraction * (to - from)))
  }

  return <canvas ref={canvas} class="timeline" data-testid="timeline" height={HEIGHT} onClick={pick} />
}

function paint(element: HTMLCanvasElement, windows: readonly WindowBounds[], held: readonly WindowView[], from: number, to: number, at: number): void {
  const ratio = window.devicePixelRatio || 1
  const width = element.clientWidth
  element.width = Math.max(1, Math.round(width * ratio))
  element.height = Math.round(HEIGHT * ratio)
  const g = element.getContext('2d')
  if (g === null) return
  g.scale(ratio, ratio)
  g.clearRect(0, 0, width, HEIGHT)
  const span = Math.max(1, to - from)
  const x = (ts: number) => ((ts - from) / span) * width
  const barTop = 8
  const barHeight = HEIGHT - barTop - HELD - 4

  // Density: entries per pixel of each window, scaled to the densest.
  let densest = 0
  const density = windows.map((w) => {
    const d = w.entries / Math.max(1, x(w.end?.ts ?? to) - x(w.start.ts))
    densest = Math.max(densest, d)
    return d
  })
  windows.forEach((w, i) => {
    const x0 = x(w.start.ts)
    const x1 = Math.max(x0 + 1, x(w.end?.ts ?? to))
    g.fillStyle = i % 2 === 0 ? '#e8edf3' : '#dde4ec'
    g.fillRect(x0, barTop, x1 - x0, barHeight)
    const h = densest === 0 ? 0 : Math.max(1, ((density[i] ?? 0) / densest) * barHeight)
    g.fillStyle = w.end === null ? '#f0a040' : '#5b8def'
    g.fillRect(x0, barTop + barHeight - h, x1 - x0, h)
  })
  // Snapshots: a mark at each window's start.
  g.fillStyle = '#223'
  for (const w of windows) g.fillRect(Math.round(x(w.start.ts)), 0, 1, barTop + barHeight)
  // The windows the client holds, underlined.
  g.fillStyle = '#2a9d55'
  for (const view of held) {
    if (view.start === undefined || view.status === 'pending') continue
    const x0 = x(view.start.ts)
    const x1 = Math.max(x0 + 1, x(view.end?.ts ?? to))
    g.fillRect(x0, HEIGHT - HELD, x1 - x0, HELD)
  }
  // The time shown.
  g.fillStyle = '#d33'
  g.fillRect(Math.round(x(at)) - 1, 0, 2, HEIGHT)
}
