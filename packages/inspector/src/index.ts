/**
 * `@statestream/inspector`: the web timeline inspector, a static bundle (HTML, JavaScript, CSS)
 * that loads nothing from the internet and talks to the server that serves it. The server serves
 * `INSPECTOR_ROOT` at `/inspector/`; `node dist/build.js` (the package's `build`) makes it.
 */
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

/** The directory of the built bundle (`dist/app/`, next to this module once built). */
export const INSPECTOR_ROOT: string = fileURLToPath(new URL('../dist/app/', import.meta.url))

/** True once the bundle has been built (its `index.html` exists). */
export function inspectorBuilt(root: string = INSPECTOR_ROOT): boolean {
  return existsSync(`${root}index.html`)
}
