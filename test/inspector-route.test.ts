/**
 * The server's /inspector/ route: the built page and its bundle, served beside the statestream
 * routes and outside their access control; a flag turns it off; a checkout that was not built
 * says so.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { buildApp } from '@statestream/server'
import { describe, expect, test } from 'vitest'
import { SECRET } from './support/tokens.ts'

describe('/inspector', () => {
  test('serves the page and its bundle; /inspector redirects under it', async () => {
    const app = await buildApp()
    try {
      const redirect = await app.inject({ url: '/inspector' })
      expect(redirect.statusCode).toBe(308)
      expect(redirect.headers.location).toBe('/inspector/')
      const page = await app.inject({ url: '/inspector/' })
      expect(page.statusCode).toBe(200)
      expect(page.headers['content-type']).toMatch(/^text\/html/)
      expect(page.body).toContain('<script type="module" src="./inspector.js">')
      const bundle = await app.inject({ url: '/inspector/inspector.js' })
      expect(bundle.statusCode).toBe(200)
      expect(bundle.headers['content-type']).toMatch(/javascript/)
      // Loads nothing from the internet: no absolute URL to fetch from in the page or the bundle.
      expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//)
      expect(bundle.body).not.toMatch(/import\s*\(?\s*["']https?:/)
      const missing = await app.inject({ url: '/inspector/nope.js' })
      expect(missing.statusCode).toBe(404)
    } finally {
      await app.close()
    }
  })

  test('is public when access control is on; the data routes are not', async () => {
    const app = await buildApp({ auth: { secret: SECRET } })
    try {
      expect((await app.inject({ url: '/inspector/' })).statusCode).toBe(200)
      expect((await app.inject({ url: '/v1/state/a' })).statusCode).toBe(401)
    } finally {
      await app.close()
    }
  })

  test('inspector: false turns it off', async () => {
    const app = await buildApp({ inspector: false })
    try {
      const response = await app.inject({ url: '/inspector/' })
      expect(response.statusCode).toBe(404)
      expect(response.json()).toMatchObject({ error: { code: 'NOT_FOUND' } })
    } finally {
      await app.close()
    }
  })

  test('a bundle that was not built is a clear 404', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'statestream-inspector-'))
    const app = await buildApp({ inspector: { root: `${empty}/` } })
    try {
      const response = await app.inject({ url: '/inspector/' })
      expect(response.statusCode).toBe(404)
      expect(response.body).toContain('the inspector is not built')
    } finally {
      await app.close()
      rmSync(empty, { recursive: true, force: true })
    }
  })
})
