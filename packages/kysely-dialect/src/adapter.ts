/**
 * Kysely's SQLite adapter with what s3db changes about it.
 *
 * @module
 */
import { SqliteAdapter } from 'kysely'

/** SqliteAdapter, adjusted for s3db. */
export class S3dbAdapter extends SqliteAdapter {
  /**
   * Connections are routing handles, not SQLite connections, so Kysely need not
   * serialise them: concurrent reads run in parallel views and concurrent
   * writes are group-committed by s3db.
   */
  override get supportsMultipleConnections(): boolean {
    return true
  }

  /**
   * DDL runs inside s3db transactions (a schema change is published atomically
   * with the rest of the transaction), so Kysely's Migrator may run inside one.
   */
  override get supportsTransactionalDdl(): boolean {
    return true
  }
}
