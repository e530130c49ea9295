/**
 * Compaction: fold the log into a new snapshot. Writers are never blocked
 * remotely: if others commit while the snapshot uploads, the new manifest keeps
 * their entries as its log (under their epoch), so compaction does not lose its
 * CAS to ordinary writes.
 *
 * @module
 */
import { stat, unlink } from 'node:fs/promises'
import { type EngineContext, measure } from './context.js'
import { headKey, type Manifest } from './format/manifest.js'
import { publishManifest } from './publish.js'
import { uploadSnapshot } from './snapshot-upload.js'
import { vacuumInto } from './sqlite-file.js'
import { contextPublisher, refreshManifest, syncReplica } from './sync.js'

/** What {@link compact} did. */
export interface CompactResult {
  /** False when there was nothing to fold, or another process compacted first. */
  compacted: boolean
  seq: number
  snapshotKey: string
  snapshotBytes: number
  /** Log entries folded into the snapshot. */
  folded: number
}

export async function compact(ctx: EngineContext, signal?: AbortSignal): Promise<CompactResult> {
  const done = measure(ctx)
  // Look for newer commits before taking the writer lock: queued writes need not
  // wait for this round trip. Then snapshot the replica at a known position,
  // holding the writer only for the sync and VACUUM INTO.
  await refreshManifest(ctx, signal)
  const taken = await ctx.writerLock.run(async () => {
    const { manifest } = await syncReplica(ctx, signal)
    if (manifest.log.length === 0) return undefined
    const file = await vacuumInto(ctx.replica.writer, ctx.replica.dir)
    return { file, seq: manifest.seq, head: headKey(manifest), folded: manifest.log.length }
  })
  const unchanged = (): CompactResult => {
    const now = ctx.remote.manifest
    return {
      compacted: false,
      seq: now.seq,
      snapshotKey: now.snapshot.key,
      snapshotBytes: now.snapshot.size,
      folded: 0,
    }
  }
  if (!taken) return unchanged()
  try {
    const size = (await stat(taken.file)).size
    const key = ctx.keys.snapshot(ctx.runtime.newId())
    const uploadedAt = ctx.runtime.monotonic()
    await uploadSnapshot(ctx.store, key, taken.file, { signal, onProgress: ctx.emit })
    const snapshot = { key, seq: taken.seq, size }
    const base = ctx.remote
    const next = folded(base.manifest, taken.seq, taken.head, snapshot)
    // Someone else compacted or replaced the snapshot meanwhile: harmless, our
    // upload is an orphan that GC removes.
    if (!next) return unchanged()
    const outcome = await publishManifest(contextPublisher(ctx), {
      base,
      next,
      own: { key, uploadedAt },
      rebase: (current) => folded(current, taken.seq, taken.head, snapshot),
      signal,
    })
    if (!outcome.committed) return unchanged()
    const result = {
      compacted: true,
      seq: taken.seq,
      snapshotKey: key,
      snapshotBytes: size,
      folded: taken.folded,
    }
    ctx.emit({ type: 'compaction', ...result, ...done() })
    return result
  } finally {
    await unlink(taken.file).catch(() => {})
  }
}

/**
 * The manifest `base` with everything up to `seq` replaced by `snapshot`, or
 * undefined when `base` no longer contains the history we compacted.
 */
function folded(
  base: Manifest,
  seq: number,
  head: string,
  snapshot: { key: string; seq: number; size: number },
): Manifest | undefined {
  if (base.seq < seq || base.snapshot.seq >= seq) return undefined
  const at = base.log[seq - base.snapshot.seq - 1]
  if (at?.key !== head) return undefined
  const log = base.log.filter((e) => e.seq > seq)
  return { ...base, seq: base.seq, snapshot, log }
}
