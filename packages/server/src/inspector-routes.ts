/**
 * `/inspector/`: the web timeline inspector's static bundle (`@statestream/inspector`), served
 * with `@fastify/static`. It sits beside the statestream plugin, outside its access control: the
 * page is public code, and every request it makes for data carries the token typed into it.
 * `/inspector` redirects to `/inspector/`, so the page's relative URLs resolve under it.
 */
import fastifyStatic from '@fastify/static'
import { ErrorCode, ROUTES, StateStreamError } from '@statestream/common'
import { INSPECTOR_ROOT, inspectorBuilt } from '@statestream/inspector'
import type { FastifyInstance } from 'fastify'

/** Options of the inspector's routes. */
export interface InspectorOptions {
  /** Directory of the built bundle. Default: the `@statestream/inspector` package's. */
  root?: string
}

export async function inspectorRoutes(app: FastifyInstance, options: InspectorOptions): Promise<void> {
  const root = options.root ?? INSPECTOR_ROOT
  const prefix = `${ROUTES.inspector}/`
  app.get(ROUTES.inspector, async (_request, reply) => reply.redirect(prefix, 308))
  if (!inspectorBuilt(root)) {
    // A checkout that was not built: say so where the page would be, rather than a bare 404.
    app.get(`${prefix}*`, async () => {
      throw new StateStreamError(ErrorCode.NOT_FOUND, 'the inspector is not built: run "pnpm build" at the repository root')
    })
    return
  }
  await app.register(fastifyStatic, {
    root,
    prefix,
    index: 'index.html',
    // The bundle's files change with each build: revalidate, never serve a stale page.
    cacheControl: true,
    maxAge: 0,
    decorateReply: false,
    wildcard: true,
  })
}
