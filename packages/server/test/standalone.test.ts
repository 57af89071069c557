/**
 * The standalone server, `statestream-server`: starts on a database file, serves over real HTTP,
 * shuts down cleanly on SIGTERM (exit code 0), and a second start on the same file serves the
 * same history.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { expect } from 'vitest'
import { test } from './support.ts'

const BIN = fileURLToPath(new URL('../bin/statestream-server.js', import.meta.url))

interface Running {
  child: ChildProcess
  baseUrl: string
  logs: string[]
}

/** Starts the server on port 0 and resolves with the address it logged once listening. */
function start(args: string[]): Promise<Running> {
  const child = spawn(process.execPath, [BIN, '--port', '0', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  const logs: string[] = []
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()))
    child.once('exit', (code) => reject(new Error(`server exited with ${code} before listening:\n${logs.join('')}`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      logs.push(line)
      let record: { msg?: unknown }
      try {
        record = JSON.parse(line) as { msg?: unknown }
      } catch {
        return
      }
      const match = typeof record.msg === 'string' ? /^Server listening at (http:\/\/\S+)$/.exec(record.msg) : null
      if (match?.[1] !== undefined) resolve({ child, baseUrl: match[1], logs })
    })
  })
}

/** Sends SIGTERM and resolves with the exit code. */
function stop({ child }: Running): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit')
    child.once('exit', (code) => resolve(code))
    child.kill('SIGTERM')
  })
}

function exitOf(args: string[]): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()))
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()))
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })))
}

test('serves over HTTP, exits 0 on SIGTERM, and a restart on the same file serves the same state', async ({ tmp }) => {
  const db = join(tmp, 'standalone.db')
  const first = await start(['--db', db, '--log-level', 'info'])
  let running: Running | undefined = first
  try {
    const url = (path: string) => `${first.baseUrl}${path}`
    const created = await fetch(url('/v1/stream/weather/station-1'), {
      method: 'PUT',
      headers: { 'content-type': 'application/json', 'stream-kind': 'state', 'stream-snapshot-entries': '2' },
    })
    expect(created.status).toBe(201)
    for (const body of [{ set: { t: 20 } }, [{ merge: { t: 21 } }, { merge: { h: 40 } }], { merge: { t: 22.5 } }]) {
      const res = await fetch(url('/v1/stream/weather/station-1'), {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      })
      expect(res.status).toBe(204)
    }
    const state = await (await fetch(url('/v1/state/weather/station-1'))).json()
    expect(state).toMatchObject({ seq: 4, state: { t: 22.5, h: 40 } })
    const log = await (await fetch(url('/v1/stream/weather/station-1?offset=-1'))).text()
    const windows = await (await fetch(url('/v1/windows/weather/station-1'))).text()

    expect(existsSync(`${db}-wal`)).toBe(true)
    running = undefined
    expect(await stop(first)).toBe(0)
    // A clean close checkpoints the WAL into the database file and removes it.
    expect(existsSync(`${db}-wal`)).toBe(false)
    expect(first.logs.join('\n')).toContain('shutting down')

    const second = await start(['--db', db])
    running = second
    const again = (path: string) => fetch(`${second.baseUrl}${path}`)
    expect(await (await again('/v1/state/weather/station-1')).json()).toEqual(state)
    expect(await (await again('/v1/stream/weather/station-1?offset=-1')).text()).toBe(log)
    expect(await (await again('/v1/windows/weather/station-1')).text()).toBe(windows)
    expect((await again('/health')).status).toBe(200)
    running = undefined
    expect(await stop(second)).toBe(0)
  } finally {
    if (running !== undefined) await stop(running)
  }
})

test('flags: --help exits 0; a bad value exits 2 with the usage', async () => {
  const help = await exitOf(['--help'])
  expect(help.code).toBe(0)
  expect(help.output).toContain('--db')
  const bad = await exitOf(['--durability', 'sometimes'])
  expect(bad.code).toBe(2)
  expect(bad.output).toContain('--durability')
  const badInterval = await exitOf(['--checkpoint-ms', 'often'])
  expect(badInterval.code).toBe(2)
  expect(badInterval.output).toContain('--checkpoint-ms must be a non-negative integer')
})
