/**
 * The `statestream` binary as a user runs it: a child process of the compiled command (built by
 * the global setup), with its stdout, stderr and exit code. `runCli` waits for it to exit;
 * `startCli` returns it running, with a way to wait for a line (a tail).
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

/** Path of the command's bin script. */
export const CLI_BIN = fileURLToPath(new URL('../../packages/cli/bin/statestream.js', import.meta.url))

/** How one run ended. */
export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Options of a run: the server, stdin text, extra environment. */
export interface CliOptions {
  url?: string
  stdin?: string
  env?: Record<string, string>
}

function spawnCli(args: readonly string[], options: CliOptions): ChildProcess {
  const urlArgs = options.url === undefined ? [] : ['--url', options.url]
  // No STATESTREAM_* from the environment the tests run in: each test says what it means.
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('STATESTREAM_')))
  return spawn(process.execPath, [CLI_BIN, ...urlArgs, ...args], {
    env: { ...env, ...options.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

/** Runs the command to its end. */
export function runCli(args: readonly string[], options: CliOptions = {}): Promise<CliResult> {
  const child = spawnCli(args, options)
  let stdout = ''
  let stderr = ''
  child.stdout?.setEncoding('utf8').on('data', (text: string) => (stdout += text))
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  child.stdin?.end(options.stdin ?? '')
  return new Promise((resolve, reject) => {
    child.on('error', reject)
    child.on('close', (code) => resolve({ code, stdout, stderr }))
  })
}

/** A command left running: its output so far, a wait for output, and its end. */
export interface RunningCli {
  child: ChildProcess
  readonly stdout: string
  readonly stderr: string
  /** Resolves once stdout has `count` lines (or rejects when the process ends first). */
  lines(count: number): Promise<string[]>
  /** Sends SIGINT (Ctrl-C) and resolves with how it ended. */
  interrupt(): Promise<CliResult>
  /** Resolves with how it ended, by itself. */
  exited: Promise<CliResult>
}

/** Starts the command and returns it running. */
export function startCli(args: readonly string[], options: CliOptions = {}): RunningCli {
  const child = spawnCli(args, options)
  let stdout = ''
  let stderr = ''
  const waiters = new Set<() => void>()
  const exited = new Promise<CliResult>((resolve) => {
    child.on('close', (code) => {
      resolve({ code, stdout, stderr })
      for (const wake of waiters) wake()
    })
  })
  child.stdout?.setEncoding('utf8').on('data', (text: string) => {
    stdout += text
    for (const wake of waiters) wake()
  })
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text))
  if (options.stdin !== undefined) child.stdin?.end(options.stdin)
  const split = () => stdout.split('\n').filter((line) => line !== '')
  return {
    child,
    get stdout() {
      return stdout
    },
    get stderr() {
      return stderr
    },
    lines: (count) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (split().length >= count) {
            waiters.delete(check)
            resolve(split())
          } else if (child.exitCode !== null || child.signalCode !== null) {
            waiters.delete(check)
            reject(new Error(`the command ended with ${split().length} of ${count} lines; stderr: ${stderr}`))
          }
        }
        waiters.add(check)
        check()
      }),
    interrupt: () => {
      child.kill('SIGINT')
      return exited
    },
    exited,
  }
}
