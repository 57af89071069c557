/**
 * vitest's global setup: brings the packages' dist/ up to date, once before any test runs (`tsc
 * -b` over every packages/<name>/tsconfig.json; incremental, so about a second when nothing
 * changed), then builds the inspector's page bundle. Tests import the packages' sources, but
 * those that spawn the `statestream-server` binary or pack the packages use what a user gets: the
 * build.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export default function setup(): void {
  const root = fileURLToPath(new URL('../..', import.meta.url))
  const packages = join(root, 'packages')
  const projects = readdirSync(packages)
    .map((name) => join(packages, name))
    .filter((dir) => existsSync(join(dir, 'tsconfig.json')))
  const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-b', ...projects], { cwd: root, stdio: 'inherit' })
  // The inspector's page bundle (esbuild; about a second), which the server serves at /inspector/.
  execFileSync(process.execPath, [join(packages, 'inspector', 'dist', 'build.js')], { cwd: root, stdio: 'inherit' })
}
