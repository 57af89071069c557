/**
 * `parts` (postgres/pending-reads.ts): an operation of independent parts, run by the pending-reads
 * runner, works each part out once and fetches the reads the unfinished parts miss together. The
 * scope here answers from a map, counting its fetches in waves; no database.
 */
import { expect, test } from 'vitest'
import { ReadScope, currentScope, parts, runPending } from '../src/postgres/pending-reads.ts'
import type { Query } from '../src/postgres/pg-query.ts'

const unused: Query = () => Promise.reject(new Error('no query in this test'))

/** A read of `key` through the running operation's scope, answered by `answers` when fetched. */
function reader(answers: Map<string, number>, fetched: string[]) {
  return (key: string): number =>
    currentScope().get(key, async () => {
      fetched.push(key)
      const value = answers.get(key)
      if (value === undefined) throw new Error(`no answer for ${key}`)
      return value
    })
}

test('each part is worked out once, and the parts’ reads are fetched a wave at a time', async () => {
  const answers = new Map(Array.from({ length: 10 }, (_, i) => [[`a${i}`, i], ...(i % 2 === 1 ? [[`b${i}`, 10 * i] as const] : [])] as const).flat())
  const fetched: string[] = []
  const read = reader(answers, fetched)
  const runs = new Map<number, number>()
  let waves = 0
  const scope = new ReadScope(unused)
  const result = await runPending(
    scope,
    () =>
      parts('sum', [...Array(10).keys()], (i) => {
        // Odd parts are two reads deep (the second known only once the first is answered); even
        // ones, one: they finish a run before the others.
        const a = read(`a${i}`)
        const b = i % 2 === 1 ? read(`b${a}`) : 10 * a
        runs.set(i, (runs.get(i) ?? 0) + 1)
        return a + b
      }),
    async () => {
      waves += 1
    },
  )
  expect(result).toEqual(Array.from({ length: 10 }, (_, i) => 11 * i))
  // Two waves (one per depth), not twenty; every read fetched once.
  expect(waves).toBe(2)
  expect(fetched.sort()).toEqual([...answers.keys()].sort())
  // Each part finished once: the last run took the even parts' values instead of running them again.
  expect([...runs.values()]).toEqual(Array(10).fill(1))
})

test('an error of one part is the operation’s, and outside an operation the parts just run', async () => {
  const fetched: string[] = []
  const read = reader(new Map([['x', 1]]), fetched)
  const scope = new ReadScope(unused)
  await expect(
    runPending(scope, () =>
      parts('p', [0, 1], (i) => {
        if (i === 1) throw new Error('part 1 failed')
        return read('x')
      }),
    ),
  ).rejects.toThrow('part 1 failed')
  expect(parts('q', [1, 2, 3], (n, i) => n * 10 + i)).toEqual([10, 21, 32])
})
