#!/usr/bin/env node
// The standalone server is the compiled dist/main.js: no TypeScript runtime. In a checkout that
// has not been built, say so in one line rather than with a module-not-found trace.
import { existsSync } from 'node:fs'

const main = new URL('../dist/main.js', import.meta.url)
if (!existsSync(main)) {
  process.stderr.write('statestream-server: not built yet: run "pnpm build" (or "pnpm start") at the repository root\n')
  process.exit(1)
}
const { runServer } = await import(main.href)
await runServer(process.argv.slice(2), process.env)
