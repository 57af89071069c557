/**
 * The `statestream-server` binary as a user runs it: the compiled one (vitest's global setup
 * builds it), in a child process. `start` waits for it to listen; `run` waits for it to exit.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess, SpawnOptions } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../bin/statestream-server.js', import.meta.url))

/** The environment of a child: ours without any STATESTREAM_ variable a developer may have set. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('STATESTREAM_')))
  return { ...env, ...extra }
}

/** A server started by `start`. */
export interface Running {
  child: ChildProcess
  baseUrl: string
  /** Every line it wrote so far, stdout and stderr. */
  logs: string[]
}

/** Starts the server (on port 0 unless `args` say otherwise) and resolves once it listens. */
export function start(args: string[], options: SpawnOptions = {}): Promise<Running> {
  const port = args.some((arg) => arg === '--port' || arg.startsWith('--port=')) ? [] : ['--port', '0']
  const child = spawn(process.execPath, [BIN, ...args, ...port], { env: cleanEnv(), ...options, stdio: ['ignore', 'pipe', 'pipe'] })
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

/** Sends `signal` (SIGTERM by default) and resolves with the exit code. */
export function stop({ child }: Running, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  return new Promise((resolve) => {
    child.removeAllListeners('exit')
    if (child.exitCode !== null) return resolve(child.exitCode)
    child.once('exit', (code) => resolve(code))
    child.kill(signal)
  })
}

/** Runs the binary to its exit (killing it after `timeoutMs`): its code and what it wrote to each stream. */
export function run(args: string[], options: SpawnOptions = {}, timeoutMs = 20_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [BIN, ...args], { env: cleanEnv(), ...options, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()))
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
  // A server that should have refused to start is still running: end it, and say so.
  const timer = setTimeout(() => {
    stderr += `\n(still running after ${timeoutMs} ms: killed by the test)`
    child.kill('SIGKILL')
  }, timeoutMs)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}
