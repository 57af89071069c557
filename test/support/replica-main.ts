/**
 * One replica as a process of its own, for the tests that kill one (`kill -9`): a server on the
 * PostgreSQL store named by its arguments (`<url> <schema>`), on 127.0.0.1 and a free port, that
 * prints `{"listening":"http://…"}` once it listens. Run from the sources (`tsx`): no build needed.
 */
import { buildApp } from '@statestream/server'

const [url, schema] = process.argv.slice(2)
if (url === undefined || schema === undefined) {
  process.stderr.write('usage: replica-main.ts <postgres-url> <schema>\n')
  process.exit(2)
}
const app = await buildApp({ postgres: { url, schema } })
const address = await app.listen({ port: 0, host: '127.0.0.1' })
process.stdout.write(`${JSON.stringify({ listening: address })}\n`)
