/**
 * Internal building blocks exposed for s3db's own packages, tests and tools.
 * Not a stable API: anything here may change in any release.
 *
 * @module
 */
export { bodyBytes, md5Hex, normalizeEtag } from './store/body.js'
export { validateKey, validatePrefix } from './store/keys.js'
