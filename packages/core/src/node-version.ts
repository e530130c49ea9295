/**
 * Refuses to load on a Node.js older than {@link MINIMUM_NODE}. better-sqlite3 13,
 * which holds the local replica, loads on Node 20 and then crashes the process
 * with a segmentation fault once it is used; failing at import time, with a
 * message that names the version to install, replaces that crash. index.ts and
 * internal.ts import this module first, so it runs before any native module loads.
 *
 * @module
 */
import { UnsupportedRuntimeError } from './errors.js'

/** The lowest Node.js version s3db supports (the `engines` field of every package says the same). */
export const MINIMUM_NODE = '22.12.0'

/** True when the Node.js version `version` (e.g. `22.11.0` or `v24.1.0`) is at least {@link MINIMUM_NODE}. */
export function isSupportedNode(version: string): boolean {
  const [major = 0, minor = 0] = version.replace(/^v/, '').split('.').map(Number)
  const [needMajor = 0, needMinor = 0] = MINIMUM_NODE.split('.').map(Number)
  return major > needMajor || (major === needMajor && minor >= needMinor)
}

if (!isSupportedNode(process.versions.node)) {
  throw new UnsupportedRuntimeError(MINIMUM_NODE, process.versions.node)
}
