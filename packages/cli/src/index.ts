/**
 * @s3db/cli: the `s3db` command. The programmatic entry point runs a command
 * line in-process (used by tests and wrappers).
 *
 * @module
 */
export { type MainOptions, main } from './main.js'
export { parseTarget, type Target } from './target.js'
