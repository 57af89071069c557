/**
 * Child processes of a benchmark run: servers and reader processes, each started with tsx (on the packages' sources) and an
 * IPC channel. The channel is the admin link (ready message, memory readings, commands), and its
 * loss ends the child (`exitWithParent`), so nothing outlives the run even if the parent is killed.
 * Every child is also killed when the run ends, however it ends.
 */
import { fork } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const live = new Set<ChildProcess>()

function killAll(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  }
  live.clear()
}
process.on('exit', killAll)
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll()
    process.exit(130)
  })
}

/** A request to a child, answered by a message with the same `id`. */
interface Reply {
  id: number
  ok: boolean
  value?: unknown
  error?: string
}

/** A running child process with a request/reply channel. */
export class Child {
  readonly process: ChildProcess
  readonly name: string
  #nextId = 1
  #waiting = new Map<number, { resolve: (value: unknown) => void; reject: (error: Error) => void }>()
  #exited: Promise<void>

  constructor(name: string, child: ChildProcess) {
    this.name = name
    this.process = child
    child.on('message', (message: unknown) => {
      const reply = message as Partial<Reply>
      if (typeof reply.id !== 'number') return
      const waiter = this.#waiting.get(reply.id)
      if (waiter === undefined) return
      this.#waiting.delete(reply.id)
      if (reply.ok) waiter.resolve(reply.value)
      else waiter.reject(new Error(`${name}: ${reply.error ?? 'failed'}`))
    })
    this.#exited = new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        live.delete(child)
        for (const waiter of this.#waiting.values()) waiter.reject(new Error(`${name} exited (${code ?? signal})`))
        this.#waiting.clear()
        resolve()
      })
    })
  }

  /** The OS process id. */
  get pid(): number {
    return this.process.pid ?? -1
  }

  /** Sends a command and resolves with the child's answer (rejects after `timeoutMs`). */
  call<T>(command: string, args: Record<string, unknown> = {}, timeoutMs = 120_000): Promise<T> {
    const id = this.#nextId++
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id)
        reject(new Error(`${this.name}: "${command}" took longer than ${timeoutMs} ms`))
      }, timeoutMs)
      this.#waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer)
          resolve(value as T)
        },
        reject: (error) => {
          clearTimeout(timer)
          reject(error)
        },
      })
      this.process.send({ id, command, args })
    })
  }

  /** Stops the child: SIGTERM, then SIGKILL if it has not exited within a second. */
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null) return
    this.process.kill('SIGTERM')
    const timer = setTimeout(() => this.process.kill('SIGKILL'), 1000)
    await this.#exited
    clearTimeout(timer)
  }
}

/**
 * Starts `script` (a path relative to `bench/`) under tsx and waits for its `ready` message, whose
 * value it returns along with the child.
 */
export async function start<T>(
  name: string,
  script: string,
  args: Record<string, unknown> = {},
  options: { nodeArgs?: string[] } = {},
): Promise<{ child: Child; ready: T }> {
  const file = fileURLToPath(new URL(`../${script}`, import.meta.url))
  const proc = fork(file, [JSON.stringify(args)], {
    execArgv: ['--conditions=source', '--import', 'tsx', ...(options.nodeArgs ?? [])],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  })
  live.add(proc)
  const child = new Child(name, proc)
  const ready = await child.call<T>('ready', {}, 60_000)
  return { child, ready }
}

/**
 * The child's side: answers commands with `handlers` and exits when the parent goes away.
 * `ready` is answered once `init` has resolved.
 */
export function serve(handlers: Record<string, (args: Record<string, unknown>) => unknown>): void {
  process.on('disconnect', () => process.exit(0))
  process.on('SIGTERM', () => process.exit(0))
  process.on('message', (message: { id: number; command: string; args: Record<string, unknown> }) => {
    const handler = handlers[message.command]
    if (handler === undefined) {
      process.send?.({ id: message.id, ok: false, error: `unknown command ${message.command}` })
      return
    }
    Promise.resolve()
      .then(() => handler(message.args))
      .then(
        (value) => process.send?.({ id: message.id, ok: true, value }),
        (error: unknown) => process.send?.({ id: message.id, ok: false, error: String((error as Error)?.stack ?? error) }),
      )
  })
}

/** The arguments `start` passed to this child. */
export function childArgs<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T
}

/** The child's memory after a full collection (needs `--expose-gc`; without it, as it is). */
export function memory(): NodeJS.MemoryUsage {
  const gc = (globalThis as { gc?: () => void }).gc
  if (gc !== undefined) {
    gc()
    gc()
  }
  return process.memoryUsage()
}

/** CPU seconds (user + system) a process has used so far, from `/proc/<pid>/stat`; NaN without /proc. */
export function cpuSeconds(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux).
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return Number.NaN
  }
}
