export { buildApp } from './app.ts'
export type { AppOptions } from './app.ts'
export type { Durability } from './db.ts'
export { statestream } from './plugin.ts'
export type { StatestreamOptions } from './plugin.ts'
export { StreamStore } from './stream-store.ts'
export type {
  AppendRequest,
  AppendResult,
  CreateStream,
  StoreEvent,
  StoredEntry,
  StreamInfo,
  StreamKind,
  StreamStoreOptions,
} from './stream-store.ts'
export { LIVE_DEFAULTS, LiveHub } from './live/live-hub.ts'
export type { LiveOptions } from './live/live-hub.ts'
export { liveCursor } from './live/cursor.ts'
