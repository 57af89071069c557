/**
 * The browser tests' harness, for any test that runs code in a real browser: headless Debian
 * Chromium driven by playwright-core (never a downloaded browser), esbuild bundles built for the
 * browser from workspace sources, a static page served from a local origin, and every console
 * error and uncaught page error collected. `browserTest` is vitest's `test` with these as
 * fixtures: one Chromium per test file, a fresh page per test, everything closed after; a test
 * fails on any console or page error it did not expect.
 *
 * Locally: `apt-get install -y chromium` (or set `CHROMIUM_PATH`), then `npx vitest run test/browser`.
 */
import { existsSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { build } from 'esbuild'
import type { Metafile } from 'esbuild'
import { chromium } from 'playwright-core'
import type { Browser, Page } from 'playwright-core'
import { expect, test } from 'vitest'

/** Where Chromium is: `CHROMIUM_PATH`, or Debian's. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** Flags for a quiet, sandbox-free headless Chromium that talks to nothing but the test's servers. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
  '--disable-dev-shm-usage',
]

/** True when the Chromium binary is there (CI installs it; see `.ci/run`). */
export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH)
}

/** Launches headless Chromium (a fresh profile each time). */
export async function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS })
}

/** A bundle built for the browser: its code, and every file it was built from. */
export interface Bundle {
  code: string
  inputs: string[]
}

/**
 * Bundles `entry` (and everything it imports) for the browser as one ES module. Workspace
 * packages resolve to their sources (`source` condition), and packages pick their `browser` entry.
 */
export async function bundle(entry: string): Promise<Bundle> {
  const result = await build({
    entryPoints: [entry],
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    conditions: ['source', 'browser'],
    write: false,
    metafile: true,
    logLevel: 'silent',
  })
  const output = result.outputFiles[0]
  if (output === undefined) throw new Error(`esbuild wrote nothing for ${entry}`)
  return { code: output.text, inputs: Object.keys((result.metafile as Metafile).inputs) }
}

/** A static site on 127.0.0.1 (port 0): path → body, served with a content type by extension. */
export interface Site {
  url: string
  close(): Promise<void>
}

const TYPES: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8', json: 'application/json' }

export async function serveSite(files: Record<string, string>): Promise<Site> {
  const server = http.createServer((request, response) => {
    const asked = new URL(request.url ?? '/', 'http://localhost').pathname
    const path = asked === '/' ? '/index.html' : asked
    const body = files[path]
    if (body === undefined) {
      response.writeHead(404).end()
      return
    }
    const type = TYPES[path.split('.').pop() ?? ''] ?? 'application/octet-stream'
    response.writeHead(200, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      }),
  }
}

/** A page of a site that loads one module, `bundle.js`. */
export function modulePage(bundle: Bundle, title = 'test'): Record<string, string> {
  return {
    '/index.html': `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><link rel="icon" href="data:,"><script type="module" src="/bundle.js"></script></head><body></body></html>`,
    '/bundle.js': bundle.code,
  }
}

/** A page, with every console error and uncaught error it produced. */
export interface WatchedPage {
  page: Page
  /** Console errors and page errors, in order. */
  errors: string[]
  /** Stops counting errors matching `pattern` as failures (an error the test provokes on purpose). */
  expectError(pattern: RegExp): void
}

/** Opens `url` in a fresh page of `browser`, collecting its errors; resolves once the page has loaded. */
export async function openPage(browser: Browser, url: string): Promise<WatchedPage> {
  const page = await browser.newPage()
  const errors: string[] = []
  const allowed: RegExp[] = []
  const note = (text: string): void => {
    if (!allowed.some((pattern) => pattern.test(text))) errors.push(text)
  }
  page.on('console', (message) => {
    if (message.type() === 'error') note(`console: ${message.text()}`)
  })
  page.on('pageerror', (error) => note(`page: ${error.message}`))
  await page.goto(url)
  return { page, errors, expectError: (pattern) => allowed.push(pattern) }
}

/** The fixtures of a browser test. */
export interface BrowserFixtures {
  /** One Chromium for the whole test file. */
  browser: Browser
  /** Opens a watched page (closed after the test; the test fails on any error it collected). */
  open: (url: string) => Promise<WatchedPage>
}

export const browserTest = test.extend<BrowserFixtures>({
  browser: [
    // vitest fixtures name their dependencies in a destructuring pattern; this one has none.
    async ({}, use) => {
      const browser = await launchChromium()
      await use(browser)
      await browser.close()
    },
    { scope: 'file' },
  ],
  open: async ({ browser }, use) => {
    const pages: WatchedPage[] = []
    await use(async (url) => {
      const watched = await openPage(browser, url)
      pages.push(watched)
      return watched
    })
    for (const watched of pages) {
      await watched.page.close()
      expect(watched.errors, 'errors in the page').toEqual([])
    }
  },
})
