/**
 * Internal building blocks exposed for s3db's own packages, tests and tools.
 * Not a stable API: anything here may change in any release.
 *
 * @module
 */

// First: refuses an unsupported Node.js before any native module loads.
import './node-version.js'

export * from './changeset/index.js'
export { DEFAULT_TRANSFER_SETTINGS } from './context.js'
export {
  foldsDir,
  isFoldRecordKey,
  parseDurationMs,
  parseFoldRecord,
  retentionKey,
} from './format/history.js'
export {
  DatabaseKeys,
  epochOf,
  type Manifest,
  parseManifest,
  serializeManifest,
} from './format/manifest.js'
export { validateDatabasePrefix } from './format/prefix.js'
export { collectGarbage, type GcOptions } from './gc.js'
export { type History, manifestAt, parseTime, readHistory, resolvePoint } from './history.js'
export { planParts } from './snapshot-download.js'
export { CountingBlobStore, diffCounts, totalRequests } from './store/counting-store.js'
export { storeIdentity } from './store/identity.js'
export { RetryingBlobStore } from './store/retrying-store.js'
export { type FetchedManifest, readManifest } from './sync.js'
export {
  FaultInjectingBlobStore,
  type FaultKind,
  type FaultOptions,
} from './testing/fault-store.js'
export { IgnoreConditionsStore } from './testing/ignore-conditions-store.js'
export { LatencyBlobStore, type LatencyOptions } from './testing/latency-store.js'
export { writePulledSeq } from './transfer.js'
export { forEachLimited } from './util/pool.js'
export { viewNow } from './view-now.js'
export { insideTransaction } from './write-queue.js'
