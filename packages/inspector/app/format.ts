/** Formatting shared by the inspector's views. */

/** A time in ms as ISO 8601 (UTC), to the millisecond. */
export function formatTime(ms: number): string {
  return new Date(ms).toISOString()
}

/** A byte count for people: 1.2 MB, 34.5 kB, 120 B. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`
  return `${bytes} B`
}

/** Compact JSON, cut with an ellipsis past `max` characters. */
export function shortJson(value: unknown, max = 120): string {
  const text = JSON.stringify(value) ?? 'undefined'
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`
}
