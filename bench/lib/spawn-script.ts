/**
 * Runs another engineer's standalone benchmark script (`state-at.ts`, `live-latency.ts`) as it is
 * meant to be run, in its own process, and reads the JSON it writes to `results/`. Bounded: the
 * script is killed after `timeoutMs`.
 */
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

export async function runScript<T>(script: string, args: string[], resultFile: string, timeoutMs: number, log: (line: string) => void): Promise<T> {
  const here = fileURLToPath(new URL('..', import.meta.url))
  const file = `${here}${script}`
  const result = `${here}results/${resultFile}`
  const startedMs = Date.now()
  await new Promise<void>((resolve, reject) => {
    const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file, ...args], { cwd: here, stdio: ['ignore', 'pipe', 'inherit'] })
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`${script} took longer than ${timeoutMs / 1000} s`))
    }, timeoutMs)
    process.on('exit', () => child.kill('SIGKILL'))
    child.stdout.setEncoding('utf8')
    let pending = ''
    child.stdout.on('data', (chunk: string) => {
      pending += chunk
      const lines = pending.split('\n')
      pending = lines.pop() ?? ''
      for (const line of lines) if (line.trim() !== '') log(`  ${script}: ${line}`)
    })
    child.on('exit', (code, signal) => {
      clearTimeout(timer)
      if (code === 0) resolve()
      else reject(new Error(`${script} exited with ${code ?? signal}`))
    })
  })
  if (statSync(result).mtimeMs < startedMs) throw new Error(`${script} did not write results/${resultFile}`)
  return JSON.parse(readFileSync(result, 'utf8')) as T
}
