/**
 * The bundle is rebuilt only when it is older than what it is made of, so `pnpm start` does not
 * type-check and bundle the page on every start.
 */
import { mkdtempSync, rmSync, utimesSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, test } from 'vitest'
import { buildInspector, bundleUpToDate } from '../src/build.ts'

test('a bundle newer than its inputs is up to date; an older or missing one is not', { timeout: 180_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'inspector-build-')) + '/'
  try {
    expect(bundleUpToDate(out)).toBe(false)
    await buildInspector(out)
    expect(bundleUpToDate(out)).toBe(true)
    // A bundle from before its sources were last changed.
    const past = new Date('2000-01-01T00:00:00Z')
    utimesSync(join(out, 'inspector.js'), past, past)
    expect(bundleUpToDate(out)).toBe(false)
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
})
