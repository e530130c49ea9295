/**
 * Opens the files s3db keeps for itself (lock files, the replica's position
 * sidecar, the filesystem store's objects) without ever following a symlink:
 * a link planted at such a path, dangling or not, is refused with a typed error
 * instead of making s3db create or overwrite a file elsewhere.
 *
 * @module
 */
import type { BigIntStats } from 'node:fs'
import { constants } from 'node:fs'
import type { FileHandle } from 'node:fs/promises'
import { lstat, open } from 'node:fs/promises'
import { errnoOf, fromOsError, notRegularFile } from './os-error.js'

/**
 * Opens the regular file at `path` with `flags` plus O_NOFOLLOW (a symlink as
 * the last component fails) and O_NONBLOCK (a FIFO planted there cannot hang
 * the open; regular files ignore the flag). Anything but a regular file is
 * refused. OS errors come out typed ({@link fromOsError}), except ENOENT, which
 * callers decide about.
 */
export async function openOwnFile(
  path: string,
  flags: number,
  mode = 0o600,
  action = 'open',
): Promise<FileHandle> {
  let handle: FileHandle
  try {
    handle = await open(path, flags | constants.O_NOFOLLOW | constants.O_NONBLOCK, mode)
  } catch (err) {
    throw errnoOf(err) === 'ENOENT' ? err : fromOsError(err, action, path)
  }
  const st = await handle.stat().catch(async (err: unknown) => {
    await handle.close()
    throw err
  })
  if (!st.isFile()) {
    await handle.close()
    throw notRegularFile(path)
  }
  return handle
}

/** Opens the directory at `path` (not through a symlink) read-only, for flock or fsync. */
export async function openOwnDirectory(path: string, action = 'open'): Promise<FileHandle> {
  try {
    return await open(path, constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW)
  } catch (err) {
    throw errnoOf(err) === 'ENOENT' ? err : fromOsError(err, action, path)
  }
}

/**
 * True when `handle` is the file (or directory) now at `path`, by device and
 * inode, with lstat semantics (a symlink there is not it). False when the path
 * was deleted or replaced since the handle was opened.
 */
export async function isStillAt(handle: FileHandle, path: string): Promise<boolean> {
  const [held, now] = await Promise.all([
    handle.stat({ bigint: true }),
    lstat(path, { bigint: true }).catch((err: unknown) => {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined
      throw err
    }),
  ])
  return now !== undefined && sameFile(held, now)
}

function sameFile(a: BigIntStats, b: BigIntStats): boolean {
  return a.dev === b.dev && a.ino === b.ino
}
