/**
 * Several statestream servers (replicas) over one PostgreSQL schema, for the replica tests:
 * `replicas(n)` starts `n` in this process (each its own app, pool and change feed, as separate
 * machines would have), `spawnReplica(schema)` one as a process of its own (to be killed with
 * SIGKILL). Every one is closed or killed when its test ends. And the few reads the tests check
 * replicas against: the whole log of a stream, and its state.
 */
import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import type { Json, Mutation } from '@statestream/common'
import { buildApp } from '@statestream/server'
import type { AppOptions } from '@statestream/server'
import { request } from 'undici'
import { engineTest } from './engine-test.ts'

const REPLICA_MAIN = fileURLToPath(new URL('./replica-main.ts', import.meta.url))

/** A replica in a process of its own. */
export interface ReplicaProcess {
  url: string
  child: ChildProcess
  /** Resolves with the exit code, or the signal that ended it. */
  exited: Promise<number | string | null>
  logs: string[]
}

export interface ReplicaFixtures {
  /** A fresh schema name: the replicas given it share one store. */
  newSchema: () => string
  /** Starts `n` replicas in this process over `schema` (a fresh one by default); their URLs. */
  replicas: (n: number, options?: AppOptions & { schema?: string }) => Promise<string[]>
  /** Starts a replica process over `schema`. */
  spawnReplica: (schema: string) => Promise<ReplicaProcess>
}

export const replicaTest = engineTest.extend<ReplicaFixtures>({
  newSchema: async ({}, use) => {
    await use(() => `r_${randomBytes(6).toString('hex')}`)
  },
  replicas: async ({ database, newSchema }, use) => {
    if (database === undefined) throw new Error('replica tests run on PostgreSQL only (the postgres project)')
    const apps: Array<Awaited<ReturnType<typeof buildApp>>> = []
    await use(async (n, options = {}) => {
      const { schema = newSchema(), ...appOptions } = options
      const urls: string[] = []
      // One after another: the first migrates the schema (they would also agree on it together).
      for (let i = 0; i < n; i++) {
        const app = await buildApp({ ...appOptions, postgres: { url: database.url, schema } })
        apps.push(app)
        urls.push(await app.listen({ port: 0, host: '127.0.0.1' }))
      }
      return urls
    })
    await Promise.all(apps.map((app) => app.close()))
  },
  spawnReplica: async ({ database }, use) => {
    if (database === undefined) throw new Error('replica tests run on PostgreSQL only (the postgres project)')
    const children: ReplicaProcess[] = []
    await use(async (schema) => {
      const replica = await startReplicaProcess(database.url, schema)
      children.push(replica)
      return replica
    })
    for (const replica of children) replica.child.kill('SIGKILL')
    await Promise.all(children.map((replica) => replica.exited))
  },
})

/** Starts `replica-main.ts` from the sources and resolves once it listens. */
function startReplicaProcess(url: string, schema: string): Promise<ReplicaProcess> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', REPLICA_MAIN, url, schema], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: string[] = []
  const exited = new Promise<number | string | null>((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)))
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (chunk: Buffer) => logs.push(chunk.toString()))
    void exited.then((code) => reject(new Error(`the replica exited (${code}) before listening:\n${logs.join('')}`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      logs.push(line)
      try {
        const { listening } = JSON.parse(line) as { listening?: unknown }
        if (typeof listening === 'string') resolve({ url: listening, child, exited, logs })
      } catch {
        // Not the line we wait for.
      }
    })
  })
}

/** Kills a replica process outright (`kill -9`: no shutdown of any kind) and waits until it is gone. */
export async function killReplica(replica: ReplicaProcess): Promise<void> {
  replica.child.kill('SIGKILL')
  await replica.exited
}

/** The whole log of state stream `name`, as the catch-up read gives it (following Stream-Next-Offset). */
export async function readLog(url: string, name: string): Promise<Mutation[]> {
  const out: Mutation[] = []
  let offset = '-1'
  for (;;) {
    const response = await request(`${url}/v1/stream/${name}?offset=${offset}`)
    if (response.statusCode !== 200) throw new Error(`GET ${name}?offset=${offset}: ${response.statusCode} ${await response.body.text()}`)
    const messages = (await response.body.json()) as Array<Mutation & { ts: number }>
    for (const { ts: _ts, ...mutation } of messages) out.push(mutation as Mutation)
    offset = String(response.headers['stream-next-offset'])
    if (response.headers['stream-up-to-date'] === 'true') return out
  }
}

/** The head of state stream `name`: its seq and state. */
export async function headOf(url: string, name: string): Promise<{ seq: number; state: Json }> {
  const response = await request(`${url}/v1/state/${name}`)
  if (response.statusCode !== 200) throw new Error(`GET /v1/state/${name}: ${response.statusCode} ${await response.body.text()}`)
  return (await response.body.json()) as { seq: number; state: Json }
}
