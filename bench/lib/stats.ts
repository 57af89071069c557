/** Small statistics and formatting helpers of the benchmarks. */

/** The median of `values` (NaN when empty). */
export function median(values: readonly number[]): number {
  return percentile(values, 50)
}

/** The `p`-th percentile of `values`, nearest-rank (NaN when empty). */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN
  const sorted = [...values].sort((a, b) => a - b)
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[rank] as number
}

/** Percentiles of a large sample, sorting it once (in place). */
export function percentiles(values: Float64Array | number[], ps: readonly number[]): number[] {
  const sorted = values instanceof Float64Array ? values.sort() : Float64Array.from(values).sort()
  return ps.map((p) => {
    if (sorted.length === 0) return Number.NaN
    const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
    return sorted[rank] as number
  })
}

/** A number for a table: thousands separated, `digits` decimals. */
export function fmt(value: number, digits = 0): string {
  if (!Number.isFinite(value)) return 'n/a'
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })
}

/** Milliseconds since some fixed point, from the monotonic clock shared by every process. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6
}

/** Microseconds on the monotonic clock shared by every process of this machine (Linux). */
export function nowUs(): number {
  return Math.round(Number(process.hrtime.bigint()) / 1e3)
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
