/**
 * The ceiling of single appends over HTTP: a bare Fastify server, the same framework and version
 * as statestream's, configured as statestream configures it for bodies (every content type read
 * as one Buffer, no JSON parsing), whose `POST /v1/stream/*` does nothing and answers 204. What
 * is left is Node's HTTP, Fastify's routing and reply, and the load generator: the most any
 * Fastify server can answer per second here with the same harness.
 */
import Fastify from 'fastify'
import { memory, serve } from '../lib/proc.ts'

const app = Fastify({ logger: false })
app.removeAllContentTypeParsers()
app.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body))
app.post('/v1/stream/*', async (_request, reply) => reply.code(204).send())
app.put('/v1/stream/*', async (_request, reply) => reply.code(201).send())
const url = await app.listen({ port: 0, host: '127.0.0.1' })

serve({
  ready: () => ({ url, pid: process.pid }),
  memory: () => memory(),
})
