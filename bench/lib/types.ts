/** What workloads report, and what they are given. */

/** One line of the results table. */
export interface Row {
  /** Workload number and name, e.g. `1 Append`. */
  workload: string
  /** What is measured, e.g. `single-message POSTs, 32 connections (appends/s)`. */
  metric: string
  /** statestream's figure (median of rounds), or null when it could not be measured. */
  statestream: number | null
  /** The peer compared with, e.g. `Durable Streams ref. server`; empty when none. */
  peer: string
  /** The peer's figure in the same unit, or null. */
  peerValue: number | null
  /** The comparison as the target states it (statestream / peer, or its inverse for latency). */
  ratio: number | null
  /** How the ratio or figure is read, e.g. `statestream / peer`. */
  ratioMeaning: string
  /** The target in words, e.g. `≥ 1.5×`. */
  target: string
  /** Whether the target is met; null when the row has no target or could not be measured. */
  met: boolean | null
  /** Unit of the figures. */
  unit: string
  /** Anything a reader must know to read the row (sizes, caveats). */
  note?: string
  /** Every round's figures, for the JSON. */
  rounds?: { statestream?: number[]; peer?: number[]; ceiling?: number[] }
}

/** What a workload is given. */
export interface Context {
  /** Smaller sizes and fewer rounds. */
  quick: boolean
  /** A private scratch directory for databases and data dirs, removed at the end. */
  tmp: string
  /** Progress output (stderr). */
  log: (line: string) => void
  /** Extra node flags for statestream server children (e.g. `--cpu-prof`). */
  serverNodeArgs: string[]
}
