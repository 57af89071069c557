/**
 * A window answer cut anywhere keeps its start and exactly the entries whose closing brace
 * arrived: never one that did not, never a broken one, and nothing at all before the whole start.
 */
import fc from 'fast-check'
import { expect, test } from 'vitest'
import type { Entry, Json } from '@statestream/common'
import { salvageWindow } from '../src/core/partial-window.ts'

/** A body as the server writes it (member order and all), with where each entry's text ends. */
function written(start: { seq: number; ts: number; state: Json }, entries: Entry[]): { text: string; startEnd: number; ends: number[] } {
  let text = `{"stream":"a/b","start":${JSON.stringify(start)}`
  const startEnd = text.length
  text += ',"entries":['
  const ends: number[] = []
  entries.forEach((entry, i) => {
    text += `${i === 0 ? '' : ','}${JSON.stringify(entry)}`
    ends.push(text.length)
  })
  return { text: `${text}],"end":null,"nextOffset":"x"}`, startEnd, ends }
}

function body(start: { seq: number; ts: number; state: Json }, entries: Entry[]): string {
  return written(start, entries).text
}

// Values as they cross the wire: JSON text has no -0 (it is written as 0).
const json = (fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>).map((value) => JSON.parse(JSON.stringify(value)) as Json)

test('every prefix of a body salvages its start and a prefix of its entries, each whole', () => {
  fc.assert(
    fc.property(json, fc.array(json, { maxLength: 6 }), fc.double({ min: 0, max: 1, noNaN: true }), (state, values, at) => {
      const start = { seq: 4, ts: 1000, state }
      const entries: Entry[] = values.map((value, i) => ({ seq: 5 + i, ts: 1000 + i, m: { set: value } }))
      const { text, startEnd, ends } = written(start, entries)
      const cut = Math.floor(text.length * at)
      const salvaged = salvageWindow(text.slice(0, cut))
      if (cut < startEnd) {
        expect(salvaged).toBeUndefined()
        return
      }
      expect(salvaged?.start).toEqual(start)
      const got = salvaged?.entries ?? []
      // Exactly the entries wholly inside the prefix.
      const whole = entries.filter((_, i) => (ends[i] as number) <= cut)
      expect(got).toEqual(whole)
    }),
    { numRuns: 500 },
  )
})

test('strings holding braces, brackets and escaped quotes do not confuse it', () => {
  const start = { seq: 0, ts: 1, state: { s: 'a "} ] [ {', t: '\\"' } }
  const entries: Entry[] = [
    { seq: 1, ts: 2, m: { merge: { k: '}{"],' } } },
    { seq: 2, ts: 3, m: { set: ['\\', '"'] } },
  ]
  const text = body(start, entries)
  const second = text.indexOf('{"seq":2')
  expect(salvageWindow(text.slice(0, second + 10))).toEqual({ start, entries: [entries[0]] })
  expect(salvageWindow(text)).toEqual({ start, entries })
})

test('the answer for the time before the stream existed has no start to keep', () => {
  expect(salvageWindow('{"stream":"a","start":null,"entries":[],"end":{"seq":0,"ts":1}')).toBeUndefined()
})
