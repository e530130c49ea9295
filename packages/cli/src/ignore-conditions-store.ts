/**
 * TEST-ONLY: the environment variable S3DB_CLI_TEST_IGNORE_CONDITIONS=1 wraps the
 * target's store in core's IgnoreConditionsStore (drops If-Match/If-None-Match)
 * so the CLI's tests can show `doctor` catching such a server. Never set it for
 * real use: it makes concurrent writes unsafe.
 *
 * @module
 */
export { IgnoreConditionsStore } from '@s3db/core/internal'

export const IGNORE_CONDITIONS_ENV = 'S3DB_CLI_TEST_IGNORE_CONDITIONS'
