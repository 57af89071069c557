import { describe, expect, test } from 'vitest'
import { entryLine, headerLine, parseExportLine } from '../src/export-format.ts'

describe('export lines', () => {
  test('an entry line parses back to the entry, its mutation unchanged', () => {
    const entry = { seq: 7, ts: 1_700_000_000_123, m: { patch: [{ op: 'add' as const, path: '/a~1b', value: { x: [1, null] } }] } }
    expect(parseExportLine(entryLine(entry))).toEqual({ type: 'entry', value: entry })
  })

  test('the first line and a stream header parse', () => {
    expect(parseExportLine(headerLine())).toEqual({ type: 'header', value: { statestream: 'export', version: 1 } })
    const header = { stream: 'w/a', kind: 'state', createdAt: 5, snapshot: { entries: 3, bytes: 10, ms: 60 }, closed: true, seq: 2 }
    expect(parseExportLine(JSON.stringify(header))).toEqual({ type: 'stream', value: header })
    expect(parseExportLine('{"end":"w/a","entries":2}')).toEqual({ type: 'end', value: { end: 'w/a', entries: 2 } })
  })

  test.each([
    ['{', 'not JSON'],
    ['[1]', 'not a JSON object'],
    ['{"seq":0,"ts":1,"m":{"set":1}}', 'seq ≥ 1'],
    ['{"seq":1,"ts":1,"m":{"set":1,"merge":{}}}', 'mutation'],
    ['{"seq":1,"ts":-1,"m":{"set":1}}', 'ts in ms'],
    ['{"stream":"a","kind":"plain","createdAt":1,"snapshot":{"entries":1,"bytes":1,"ms":1},"closed":false,"seq":0}', 'kind "state"'],
    ['{"stream":"a","kind":"state","createdAt":1,"closed":false,"seq":0}', 'snapshot'],
    ['{"statestream":"export","version":2}', 'version 2'],
    ['{"hello":1}', 'not a line of a statestream export'],
  ])('%s is refused', (line, problem) => {
    expect(() => parseExportLine(line)).toThrow(problem)
  })
})
