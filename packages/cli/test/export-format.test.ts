import { describe, expect, test } from 'vitest'
import { bytesLine, entryLine, headerLine, isJsonType, jsonLine, parseExportLine } from '../src/export-format.ts'

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

  test('plain stream headers and their lines parse: JSON messages as they are, bytes from base64', () => {
    const header = { stream: 'p/a', kind: 'plain', contentType: 'application/octet-stream', ttlSeconds: 60, closed: false, seq: 3 }
    expect(parseExportLine(JSON.stringify(header))).toEqual({ type: 'stream', value: header })
    const expiring = { stream: 's/a', kind: 'state', createdAt: 5, snapshot: { entries: 3, bytes: 10, ms: 60 }, expiresAt: 4_000_000_000_000, closed: false, seq: 0 }
    expect(parseExportLine(JSON.stringify(expiring))).toEqual({ type: 'stream', value: expiring })
    expect(parseExportLine(jsonLine(2, [null, { a: 'é' }]))).toEqual({ type: 'plain', value: { seq: 2, json: [null, { a: 'é' }] } })
    expect(parseExportLine(jsonLine(3, null))).toEqual({ type: 'plain', value: { seq: 3, json: null } })
    const bytes = Buffer.from([0, 255, 10, 13, 34])
    expect(parseExportLine(bytesLine(9, bytes))).toEqual({ type: 'plain', value: { seq: 9, bytes } })
    expect(isJsonType('application/json; charset=utf-8')).toBe(true)
    expect(isJsonType('application/jsonl')).toBe(false)
  })

  test.each([
    ['{', 'not JSON'],
    ['[1]', 'not a JSON object'],
    ['{"seq":0,"ts":1,"m":{"set":1}}', 'seq ≥ 1'],
    ['{"seq":1,"ts":1,"m":{"set":1,"merge":{}}}', 'mutation'],
    ['{"seq":1,"ts":-1,"m":{"set":1}}', 'ts in ms'],
    ['{"stream":"a","kind":"plain","closed":false,"seq":0}', 'needs a contentType'],
    ['{"stream":"a","kind":"queue","closed":false,"seq":0}', 'has kind "queue": it must be "state" or "plain"'],
    ['{"stream":"a","kind":"plain","contentType":"text/plain","ttlSeconds":1,"expiresAt":2,"closed":false,"seq":0}', 'both ttlSeconds and expiresAt'],
    ['{"stream":"a","kind":"state","contentType":"text/plain","createdAt":1,"snapshot":{"entries":1,"bytes":1,"ms":1},"closed":false,"seq":0}', 'application/json'],
    ['{"seq":0,"json":1}', 'seq ≥ 1'],
    ['{"seq":1,"b64":"not base64!"}', 'base64'],
    ['{"seq":1,"b64":""}', 'base64'],
    ['{"stream":"a","kind":"state","createdAt":1,"closed":false,"seq":0}', 'snapshot'],
    ['{"statestream":"export","version":2}', 'version 2'],
    ['{"hello":1}', 'not a line of a statestream export'],
  ])('%s is refused', (line, problem) => {
    expect(() => parseExportLine(line)).toThrow(problem)
  })
})
