/**
 * The page script of the client's browser test: the client as a browser application gets it
 * (the package's `browser` entry, bundled by esbuild), put on `globalThis` for the test to drive.
 */
import * as statestream from '@statestream/client'

declare global {
  // The test reads it with `page.evaluate`.
  var statestream: typeof import('@statestream/client')
}

globalThis.statestream = statestream
