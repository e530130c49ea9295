/**
 * Removes the temp replica directories (`s3db-replica-*` in the OS temp dir)
 * that processes killed with SIGKILL, OOM or power loss left behind: they never
 * ran `close()`, so nothing else would ever delete them.
 *
 * A directory is only removed when it is provably dead: s3db can take both of
 * its replica's locks (a live holder keeps them until it closes, and the kernel
 * drops them when it dies), and it has not changed for {@link MIN_AGE_MS}, so a
 * process that has just created it and not locked it yet is never robbed of it.
 *
 * @module
 */
import { lstat, readdir, rm, rmdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type HeldLock, tryLockFile } from '../store/file-lock.js'
import { errnoOf } from '../util/os-error.js'

/** Basename prefix of temp replica directories (mkdtemp adds 6 random characters). */
export const TEMP_REPLICA_PREFIX = 's3db-replica-'
/** Name of the replica file inside a temp replica directory. */
export const TEMP_REPLICA_FILE = 'replica.sqlite'
/** Directories changed more recently than this are never touched. */
const MIN_AGE_MS = 60_000

let sweptOnce: Promise<number> | undefined

/** Runs {@link sweepStaleTempReplicas} once per process; later calls share its result. */
export function sweepStaleTempReplicasOnce(): Promise<number> {
  sweptOnce ??= sweepStaleTempReplicas().catch(() => 0)
  return sweptOnce
}

/** Removes dead temp replica directories in `dir`; returns how many. Best effort. */
export async function sweepStaleTempReplicas(
  dir = tmpdir(),
  minAgeMs = MIN_AGE_MS,
): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[])
  const uid = process.getuid?.()
  const cutoff = Date.now() - minAgeMs
  let removed = 0
  for (const name of names) {
    if (!name.startsWith(TEMP_REPLICA_PREFIX)) continue
    const path = join(dir, name)
    const st = await lstat(path).catch(() => undefined)
    // Only real directories of this user (lstat: never a symlink), idle long enough.
    if (!st?.isDirectory() || (uid !== undefined && st.uid !== uid) || st.mtimeMs > cutoff) continue
    if (await removeIfDead(path)) removed++
  }
  return removed
}

async function removeIfDead(dir: string): Promise<boolean> {
  const replica = join(dir, TEMP_REPLICA_FILE)
  const locks: HeldLock[] = []
  try {
    let lockFiles = 0
    for (const path of [`${replica}.lock`, `${replica}.s3db-position`]) {
      let lock: HeldLock | undefined
      try {
        lock = await tryLockFile(path, { create: false })
      } catch (err) {
        if (errnoOf(err) === 'ENOENT') continue
        return false // something unexpected there: leave it alone
      }
      if (!lock) return false // held: a live process uses it
      locks.push(lock)
      lockFiles++
    }
    if (lockFiles === 0) {
      // Created but never locked (killed right after mkdtemp): only an empty one is
      // surely that; rmdir refuses anything else.
      return await rmdir(dir).then(
        () => true,
        () => false,
      )
    }
    await rm(dir, { recursive: true, force: true })
    return true
  } catch {
    return false
  } finally {
    for (const lock of locks) await lock.release().catch(() => {})
  }
}
