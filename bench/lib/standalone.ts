/**
 * The built standalone server (`statestream-server`) as a child process on its own SQLite file,
 * for benchmarks that run the product as a user does (the CLI's round trips).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'

/** The repository's root. */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const SERVER_BIN = join(ROOT, 'packages/server/bin/statestream-server.js')

/** Starts a server on `port` with its database `db`, once `/health` answers; `children` gets it, to be ended. */
export async function startStandalone(db: string, port: number, children: ChildProcess[]): Promise<string> {
  const child = spawn(process.execPath, [SERVER_BIN, '--port', String(port), '--db', db, '--log-level', 'warn'], { stdio: 'inherit' })
  children.push(child)
  const url = `http://127.0.0.1:${port}`
  for (let i = 0; i < 200; i++) {
    try {
      const response = await request(`${url}/health`)
      await response.body.dump()
      if (response.statusCode === 200) return url
    } catch {
      // not up yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`the server on ${db} did not start`)
}
