/**
 * `statestream serve`: the standalone server under the CLI, with the server's own flags (one
 * table for both), reachable by the other commands, ended cleanly by SIGINT.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { afterAll, describe, expect, test } from 'vitest'
import { runCli, startCli } from './support/cli.ts'
import type { RunningCli } from './support/cli.ts'

const dir = mkdtempSync(join(tmpdir(), 'statestream-serve-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

/** The server's address, from its "listening" log line (it listens on a free port). */
async function address(server: RunningCli): Promise<string> {
  for (;;) {
    // The whole line: a chunk may end inside the port number.
    const match = /listening at (http:\/\/127\.0\.0\.1:\d+)"/.exec(server.stdout)
    if (match?.[1] !== undefined) return match[1]
    await server.lines(server.stdout.split('\n').filter((line) => line !== '').length + 1)
  }
}

describe('statestream serve', () => {
  test('runs the server with its flags; the commands reach it; SIGINT ends it cleanly', async () => {
    const server = startCli(['serve', '--port', '0', '--db', join(dir, 'a.db'), '--log-format', 'json', '--inspector', 'off'])
    try {
      const url = await address(server)
      const created = await runCli(['create', 'w/a'], { url })
      expect(created).toMatchObject({ code: 0 })
      expect((await runCli(['append', 'w/a', '{"set":{"up":true}}'], { url })).code).toBe(0)
      expect(JSON.parse((await runCli(['get', 'w/a', '--state'], { url })).stdout)).toEqual({ up: true })
      // --inspector off: no page.
      const page = await request(`${url}/inspector/`)
      await page.body.dump()
      expect(page.statusCode).toBe(404)
    } finally {
      const ended = await server.interrupt()
      expect(ended.code).toBe(0)
    }
  }, 120_000)

  test('refuses a bad flag as the server does, and has its help', async () => {
    const bad = await runCli(['serve', '--port', '99999'])
    expect(bad.code).toBe(2)
    // Named the way it was run.
    expect(bad.stderr).toBe('statestream serve: --port must be an integer from 0 to 65535, got "99999"\n')
    const unknown = await runCli(['serve', '--url', 'http://127.0.0.1:1'])
    expect([unknown.code, unknown.stderr]).toEqual([2, 'statestream serve: unknown flag --url (--help lists them)\n'])
    const help = await runCli(['serve', '--help'])
    expect(help.code).toBe(0)
    expect(help.stdout).toContain('Usage: statestream serve [options]')
    expect(help.stdout).toContain('--inspector <on|off>')
    expect(help.stdout).toContain('STATESTREAM_DB')
  }, 120_000)

  test('a client option before serve is refused in one line, not dropped with a silent exit', async () => {
    const db = join(dir, 'b.db')
    const cases: Array<[string[], string]> = [
      [['--url', 'http://127.0.0.1:1'], '--url is an option'],
      [['--token', 'x'], '--token is an option'],
      [['--url=http://127.0.0.1:1', '--token', 'x'], '--url and --token are options'],
    ]
    for (const [globals, says] of cases) {
      const refused = await runCli([...globals, 'serve', '--port', '0', '--db', db])
      expect({ globals, code: refused.code, stdout: refused.stdout }).toEqual({ globals, code: 2, stdout: '' })
      expect(refused.stderr).toBe(`statestream: USAGE: ${says} of the client commands, not of serve: give serve its own flags (statestream serve --help)\n`)
    }
  }, 120_000)
})
