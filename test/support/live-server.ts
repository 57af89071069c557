/**
 * A statestream server on a real listener (127.0.0.1, port 0) for the live tests, and the few
 * HTTP calls they make. `liveTest` is vitest's `test` with a `serve` fixture: every server it
 * starts is on the project's storage engine (`engine-test.ts`) and is closed after the test,
 * whatever happens.
 */
import { buildApp } from '@statestream/server'
import type { AppOptions } from '@statestream/server'
import { request } from 'undici'
import { engineTest } from './engine-test.ts'

type FastifyInstance = Awaited<ReturnType<typeof buildApp>>

/** A running server: its base URL and app. */
export interface LiveServer {
  url: string
  app: FastifyInstance
}

/** `test` with `serve(options)`: starts a server that is closed when the test ends. */
export const liveTest = engineTest.extend<{ serve: (options?: AppOptions) => Promise<LiveServer> }>({
  serve: async ({ onEngine }, use) => {
    const apps: FastifyInstance[] = []
    await use(async (options = {}) => {
      const app = await buildApp(onEngine(options))
      apps.push(app)
      const url = await app.listen({ port: 0, host: '127.0.0.1' })
      return { url, app }
    })
    await Promise.all(apps.map((app) => app.close()))
  },
})

/** Creates a state stream (optionally with a snapshot policy); returns its name. */
export async function createStateStream(url: string, name: string, snapshotEntries?: number): Promise<string> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'stream-kind': 'state' }
  if (snapshotEntries !== undefined) headers['stream-snapshot-entries'] = String(snapshotEntries)
  const response = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers })
  await response.body.dump()
  if (response.statusCode !== 201) throw new Error(`PUT ${name}: ${response.statusCode}`)
  return name
}

/** Creates a plain stream of `contentType`. */
export async function createPlainStream(url: string, name: string, contentType: string): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'PUT', headers: { 'content-type': contentType } })
  await response.body.dump()
  if (response.statusCode !== 201) throw new Error(`PUT ${name}: ${response.statusCode}`)
}

/** Appends `body` (JSON text, or bytes of `contentType`); returns the new head offset. */
export async function append(url: string, name: string, body: string, contentType = 'application/json'): Promise<string> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'POST', headers: { 'content-type': contentType }, body })
  const text = await response.body.text()
  if (response.statusCode >= 300) throw new Error(`POST ${name}: ${response.statusCode} ${text}`)
  return String(response.headers['stream-next-offset'])
}

/** GETs `path` and parses the JSON answer. */
export async function getJson<T = unknown>(url: string, path: string): Promise<{ status: number; body: T }> {
  const response = await request(`${url}${path}`)
  return { status: response.statusCode, body: (await response.body.json()) as T }
}

/** Deletes a stream. */
export async function deleteStream(url: string, name: string): Promise<void> {
  const response = await request(`${url}/v1/stream/${name}`, { method: 'DELETE' })
  await response.body.dump()
  if (response.statusCode !== 204) throw new Error(`DELETE ${name}: ${response.statusCode}`)
}

/** Resolves after `ms`. Only for letting time pass (server intervals), never for ordering. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}
