/**
 * The standalone `statestream-server` as a child process, the way a user runs it (the built
 * binary): started on port 0 and resolved once it logs where it listens; stopped by a signal, or
 * killed outright (`SIGKILL`) to play a crash.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

/** The binary a user runs (built by the global setup). */
export const SERVER_BIN = fileURLToPath(new URL('../../packages/server/bin/statestream-server.js', import.meta.url))

/** A running server process. */
export interface ServerProcess {
  child: ChildProcess
  url: string
  /** Its output so far (for failure messages). */
  logs: string[]
  /** Resolves with the exit code, or the signal that ended it. */
  exited: Promise<number | string | null>
}

/** Starts the server with `args` (`--port 0` is added) and resolves once it listens. */
export function startServer(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<ServerProcess> {
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  const logs: string[] = []
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()))
    void exited.then((code) => reject(new Error(`the server exited (${code}) before listening:\n${logs.join('')}`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      logs.push(line)
      let record: { msg?: unknown }
      try {
        record = JSON.parse(line) as { msg?: unknown }
      } catch {
        return
      }
      const match = typeof record.msg === 'string' ? /^Server listening at (http:\/\/\S+)$/.exec(record.msg) : null
      if (match?.[1] !== undefined) resolve({ child, url: match[1], logs, exited })
    })
  })
}

/** Kills the server with SIGKILL (no shutdown of any kind) and waits until it is gone. */
export async function killServer(server: ServerProcess): Promise<void> {
  server.child.kill('SIGKILL')
  await server.exited
}

/** Stops the server with SIGTERM (a graceful shutdown) and resolves with its exit code. */
export async function stopServer(server: ServerProcess): Promise<number | string | null> {
  server.child.kill('SIGTERM')
  return server.exited
}
