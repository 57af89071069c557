/**
 * The progress bar of long work (export, import, history): count, rate and ETA on stderr, drawn
 * with `cli-progress`. It is drawn only for a person at a terminal: stderr is a TTY, and stdout
 * is a TTY too or the data goes to a file. Anywhere else (a pipe, a script, CI) it is silent, and
 * the command prints its data and nothing else.
 */
import { SingleBar } from 'cli-progress'

/** What a command reports of its progress. */
export interface Progress {
  /** Counts `count` more entries and `bytes` more bytes. */
  tick(count: number, bytes?: number): void
  /** Sets the expected total (of what the bar measures), once it is known. */
  total(total: number): void
  /** Writes data on stdout without tearing the bar; false when stdout asks to wait for `drain`. */
  write(text: string): boolean
  /** Draws the final figures and leaves them on screen. */
  stop(): void
}

/** Where a command's data goes, to decide whether a bar is drawn. */
export interface ProgressTarget {
  stderr: { isTTY?: boolean; write(text: string): boolean }
  stdout: { isTTY?: boolean; write(text: string): boolean }
  /** True when the data goes to a file (`-o`) or nowhere, rather than stdout. */
  toFile: boolean
}

/** Settings of one bar. */
export interface ProgressOptions {
  /** What the bar's length measures: entries (default) or bytes (an import, by file size). */
  by?: 'entries' | 'bytes'
  /** The expected total, when known at the start. */
  total?: number
}

/** True when a bar would be seen by someone. */
export function isWatched(target: ProgressTarget): boolean {
  return target.stderr.isTTY === true && (target.toFile || target.stdout.isTTY === true)
}

/** A bar for the work `label`, or a silent stand-in when no one is watching. */
export function startProgress(label: string, target: ProgressTarget, options: ProgressOptions = {}): Progress {
  if (!isWatched(target)) return silentProgress(target.stdout)
  const byBytes = options.by === 'bytes'
  const started = Date.now()
  let bytes = 0
  let count = 0
  const bar = new SingleBar({
    stream: target.stderr as NodeJS.WriteStream,
    format: `${label} {bar} {percentage}% | {count} entries | {rate} entries/s | {mb} MB | {elapsed}s | ETA {eta_formatted}`,
    barsize: 24,
    hideCursor: true,
    etaBuffer: 100,
    fps: 8,
  })
  const payload = () => {
    const seconds = Math.max((Date.now() - started) / 1000, 0.001)
    return {
      count: count.toLocaleString('en-US'),
      rate: Math.round(count / seconds).toLocaleString('en-US'),
      mb: (bytes / 1e6).toFixed(1),
      elapsed: seconds.toFixed(1),
    }
  }
  const value = () => (byBytes ? bytes : count)
  bar.start(options.total ?? 0, 0, payload())
  return {
    tick(more, moreBytes = 0) {
      count += more
      bytes += moreBytes
      if (value() > bar.getTotal()) bar.setTotal(value())
      bar.update(value(), payload())
    },
    total(total) {
      bar.setTotal(Math.max(total, value()))
    },
    write(text) {
      // Clear the bar's line, write the data, and let the next redraw put the bar back.
      target.stderr.write('\r\x1b[2K')
      const more = target.stdout.write(text)
      bar.render()
      return more
    },
    stop() {
      bar.update(value(), payload())
      bar.stop()
    },
  }
}

function silentProgress(stdout: ProgressTarget['stdout']): Progress {
  return {
    tick() {},
    total() {},
    write(text) {
      return stdout.write(text)
    },
    stop() {},
  }
}
