/**
 * Builds the inspector's bundle into `dist/app/`: the app's sources type-checked (browser types,
 * `app/tsconfig.json`), then bundled by esbuild with preact and the browser build of
 * `@statestream/client` into one script, next to the page and its stylesheet. Everything the page
 * needs is in the bundle: it loads nothing from the internet.
 *
 *   node dist/build.js          (the package's `build` script runs it after tsc -b)
 *   node dist/build.js --force  (rebuild even when the bundle is newer than every input)
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { INSPECTOR_ROOT } from './index.ts'

const app = fileURLToPath(new URL('../app/', import.meta.url))
const OUTPUTS = ['inspector.js', 'index.html', 'inspector.css']

/** The newest modification time of the files under `dir` (0 when there are none). */
function newest(dir: string): number {
  let latest = 0
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) latest = Math.max(latest, statSync(`${entry.parentPath}/${entry.name}`).mtimeMs)
  }
  return latest
}

/**
 * Whether the bundle in `outdir` is newer than everything it is made of: the app's sources, the
 * client's build it bundles, and this package's manifest (its pinned dependencies).
 */
export function bundleUpToDate(outdir: string = INSPECTOR_ROOT): boolean {
  let oldestOutput = Infinity
  for (const name of OUTPUTS) {
    try {
      oldestOutput = Math.min(oldestOutput, statSync(`${outdir}${name}`).mtimeMs)
    } catch {
      return false
    }
  }
  const client = fileURLToPath(new URL('./', import.meta.resolve('@statestream/client')))
  const manifest = statSync(fileURLToPath(new URL('../package.json', import.meta.url))).mtimeMs
  return Math.max(newest(app), newest(client), manifest) < oldestOutput
}

/** Type-checks and bundles the inspector into `outdir` (default: `INSPECTOR_ROOT`). */
export async function buildInspector(outdir: string = INSPECTOR_ROOT): Promise<void> {
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
  execFileSync(process.execPath, [tsc, '-p', `${app}tsconfig.json`], { stdio: 'inherit' })
  mkdirSync(outdir, { recursive: true })
  await build({
    entryPoints: [`${app}main.tsx`],
    outfile: `${outdir}inspector.js`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The browser entry of @statestream/client (its build): fetch, no Node built-in.
    conditions: ['browser'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: true,
    sourcemap: true,
    legalComments: 'none',
    logLevel: 'warning',
  })
  copyFileSync(`${app}index.html`, `${outdir}index.html`)
  copyFileSync(`${app}inspector.css`, `${outdir}inspector.css`)
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (!process.argv.includes('--force') && bundleUpToDate()) console.log('inspector: bundle up to date')
  else await buildInspector()
}
