/**
 * Builds the inspector's bundle into `dist/app/`: the app's sources type-checked (browser types,
 * `app/tsconfig.json`), then bundled by esbuild with preact and the browser build of
 * `@statestream/client` into one script, next to the page and its stylesheet. Everything the page
 * needs is in the bundle: it loads nothing from the internet.
 *
 *   node dist/build.js          (the package's `build` script runs it after tsc -b)
 */
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { build } from 'esbuild'
import { INSPECTOR_ROOT } from './index.ts'

const app = fileURLToPath(new URL('../app/', import.meta.url))

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

if (process.argv[1] === fileURLToPath(import.meta.url)) await buildInspector()
