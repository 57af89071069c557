/**
 * Argument parsers for commander options: times, counts and JSON, each failing with a usage error
 * (exit 2) that names the option.
 */
import { InvalidArgumentError } from 'commander'
import type { Json } from '@statestream/common'
import { usageError } from './exit-codes.ts'
import { parseTime } from './time.ts'

/** A parser of time arguments relative to `now` (see `time.ts` for the grammar). */
export function timeArg(now: number): (value: string) => number {
  return (value) => {
    const parsed = parseTime(value, now)
    if (!parsed.ok) throw new InvalidArgumentError(parsed.problem)
    return parsed.ms
  }
}

/** A non-negative integer (a seq, a count). */
export function countArg(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw new InvalidArgumentError(`"${value}" is not a non-negative integer`)
  }
  return Number(value)
}

/** A positive integer (a limit, a snapshot policy). */
export function positiveArg(value: string): number {
  const n = countArg(value)
  if (n === 0) throw new InvalidArgumentError('it must be at least 1')
  return n
}

/** A JSON text, with the parser's complaint when it is not one. */
export function parseJsonText(text: string, where: string): Json {
  try {
    return JSON.parse(text) as Json
  } catch (err) {
    throw usageError(`${where} is not JSON: ${(err as Error).message}`)
  }
}
