/**
 * SQLite changesets without the session extension: a codec for the binary format,
 * change capture on better-sqlite3, and an apply with sqlite3changeset_apply's rules.
 *
 * @module
 */

export {
  type ApplyOptions,
  type ApplyResult,
  applyChangeset,
  type ConflictAction,
  type ConflictInfo,
  type ConflictKind,
} from './apply.js'
export { ChangeCapture, type ChangeCaptureOptions } from './capture.js'
export { type DecodeOptions, decodeChangeset, encodeChangeset } from './codec.js'
export {
  type Change,
  type Changeset,
  type DeleteChange,
  type Field,
  type InsertChange,
  RawText,
  type TableChanges,
  type UpdateChange,
  type Value,
  valueEquals,
} from './types.js'
