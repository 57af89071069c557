/**
 * The embeddable Fastify plugin: every statestream route, its own body parsing and error
 * handling, encapsulated so that a host application's other routes are untouched.
 *
 *   app.register(statestream, { file: 'streams.db' })
 */
import { DEFAULT_BODY_LIMIT } from '@statestream/common'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { installErrorHandler } from './http-errors.ts'
import { historyRoutes } from './routes/history-routes.ts'
import { streamRoutes } from './routes/stream-routes.ts'
import { StreamStore } from './stream-store.ts'
import type { StreamInfo, StreamStoreOptions } from './stream-store.ts'
import { ErrorCode, StateStreamError } from '@statestream/common'

/** Options of the `statestream` plugin. */
export interface StatestreamOptions extends StreamStoreOptions {
  /**
   * A store to serve. The caller owns it (the plugin does not close it). Without one the plugin
   * opens a store from the other options and closes it when the app closes.
   */
  store?: StreamStore
  /** Largest accepted request body, in bytes; larger ones get 413. Default 4 MiB. */
  bodyLimit?: number
  /** Largest catch-up read of `/v1/stream`, in bytes. Default 1 MiB. */
  readChunkBytes?: number
}

export async function statestream(app: FastifyInstance, options: StatestreamOptions): Promise<void> {
  const owned = options.store === undefined
  const store = options.store ?? new StreamStore(options)
  if (owned) app.addHook('onClose', async () => store.close())

  // Every body is taken as bytes: plain streams store them as they are, JSON is parsed where a
  // route knows what it must be (so its errors carry our codes).
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: options.bodyLimit ?? DEFAULT_BODY_LIMIT }, (_request, body, done) => {
    done(null, body)
  })
  installErrorHandler(app)

  const liveRead = (_request: FastifyRequest, _reply: FastifyReply, _info: StreamInfo, mode: string): never => {
    throw new StateStreamError(ErrorCode.INVALID_PARAMETER, `live=${mode} is not served yet`)
  }
  await app.register(streamRoutes, { store, readChunkBytes: options.readChunkBytes ?? 1024 * 1024, liveRead })
  await app.register(historyRoutes, { store })
}
