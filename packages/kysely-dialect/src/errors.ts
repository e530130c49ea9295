/**
 * Errors of the Kysely integration. Like every s3db error they carry a stable
 * `code`.
 *
 * @module
 */
import { S3dbError } from '@s3db/core'
import type { MigrationResult } from 'kysely/migration'

/**
 * Running Kysely migrations failed; nothing of that run was committed (the
 * whole check-and-apply is one transaction). `migrationName` names the
 * migration that failed, when one did (it is undefined when the failure came
 * before any migration ran, e.g. a missing or misordered migration).
 */
export class KyselyMigrationError extends S3dbError {
  readonly migrationName: string | undefined
  /** Kysely's per-migration results of the failed run. */
  readonly results: readonly MigrationResult[]

  constructor(
    migrationName: string | undefined,
    results: readonly MigrationResult[],
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message : String(cause)
    super(
      'MigrationFailed',
      migrationName === undefined
        ? `Kysely migrations failed before running any migration, nothing was applied: ${reason}`
        : `Kysely migration "${migrationName}" failed; no migration of this run was applied: ${reason}`,
      { cause },
    )
    this.migrationName = migrationName
    this.results = results
  }
}
