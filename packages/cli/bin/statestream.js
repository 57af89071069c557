#!/usr/bin/env node
// The command is the compiled dist/main.js: no TypeScript runtime. In a checkout that has not
// been built, say so in one line rather than with a module-not-found trace.
import { existsSync } from 'node:fs'

const main = new URL('../dist/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('statestream: not built yet: run "pnpm build" at the repository root\n')
  process.exit(1)
}
await import(main.href)
