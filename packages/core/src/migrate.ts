/**
 * s3db's own schema migrations: each pending migration runs as one DDL commit
 * (a new snapshot) that sets the manifest's schema_version. Concurrent openers
 * race on the CAS; a loser re-runs on the new state, sees the migration done,
 * and skips it.
 *
 * @module
 */
import {
  InvalidArgumentError,
  MigrationFailedError,
  type S3dbError,
  SchemaTooNewError,
} from './errors.js'
import type { Manifest } from './format/manifest.js'
import type { Tx } from './tx.js'

/** One schema migration. */
export interface Migration {
  /** Positive integer; migrations run in ascending order, each once. */
  version: number
  name: string
  /** Applies the migration. Runs inside a transaction; may run more than once on conflict. */
  up(tx: Tx): void | Promise<void>
  /**
   * Additive (new tables, columns with defaults, indexes): apps that stop at an
   * older version may keep using the database, so a rolling deploy works.
   */
  compatible?: boolean | undefined
  /**
   * Run with foreign keys off (table rebuilds), checking `PRAGMA
   * foreign_key_check` before commit.
   */
  foreignKeys?: false | undefined
}

/** Validates and sorts migrations; returns them with the app's highest version. */
export function planMigrations(migrations: readonly Migration[]): {
  sorted: Migration[]
  latest: number
} {
  const sorted = [...migrations].sort((a, b) => a.version - b.version)
  let prev = 0
  for (const m of sorted) {
    if (!Number.isSafeInteger(m.version) || m.version <= 0) {
      throw new InvalidArgumentError(
        `migration ${JSON.stringify(m.name)} has version ${m.version}; versions are positive integers`,
      )
    }
    if (m.version === prev)
      throw new InvalidArgumentError(`two migrations have version ${m.version}`)
    if (typeof m.up !== 'function')
      throw new InvalidArgumentError(`migration ${m.version} has no up() function`)
    prev = m.version
  }
  return { sorted, latest: prev }
}

/**
 * Throws SchemaTooNew when the database's schema is ahead of what this app
 * knows, unless the newer migrations were all marked compatible.
 */
export function assertSchemaKnown(manifest: Manifest, appLatest: number | undefined): void {
  if (appLatest === undefined || manifest.schemaVersion <= appLatest) return
  const required = manifest.compatSchemaVersion ?? manifest.schemaVersion
  if (required > appLatest) throw new SchemaTooNewError(manifest.schemaVersion, appLatest)
}

/** The schema_version a migration commit records as the minimum compatible. */
export function compatAfter(migration: Migration, manifest: Manifest): number {
  if (!migration.compatible) return migration.version
  return manifest.compatSchemaVersion ?? manifest.schemaVersion
}

/** Wraps a migration failure so callers see which migration failed. */
export function migrationError(migration: Migration, err: unknown): S3dbError {
  if (err instanceof SchemaTooNewError) return err
  return new MigrationFailedError(migration.version, migration.name, { cause: err })
}
