/**
 * `node --conditions=source --import tsx lib/profile-summary.ts <file.cpuprofile> [top]`: self time per function of a
 * `--cpu-prof` profile, the top entries first. How the causes in README were found.
 */
import { readFileSync } from 'node:fs'

interface Node {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount: number
  children?: number[]
}

const [file, topArg] = process.argv.slice(2)
if (file === undefined) throw new Error('usage: profile-summary.ts <file.cpuprofile> [top]')
const profile = JSON.parse(readFileSync(file, 'utf8')) as { nodes: Node[]; samples: number[]; timeDeltas: number[] }
const self = new Map<string, number>()
const byId = new Map(profile.nodes.map((node) => [node.id, node]))
const ticks = new Map<number, number>()
profile.samples.forEach((id, i) => ticks.set(id, (ticks.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0)))
let total = 0
for (const [id, us] of ticks) {
  const node = byId.get(id)
  if (node === undefined) continue
  const where = node.callFrame.url.replace(/^.*node_modules\/\.pnpm\/([^/]+)\/.*\//, '$1:').replace(/^.*\/work\/main\//, '')
  const key = `${node.callFrame.functionName || '(anonymous)'} ${where}:${node.callFrame.lineNumber + 1}`
  self.set(key, (self.get(key) ?? 0) + us)
  total += us
}
const top = [...self].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 30))
for (const [key, us] of top) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${key}`)
console.log(`total ${(total / 1000).toFixed(0)} ms`)
