/**
 * The Kysely Dialect for s3db: Kysely's SQLite query compiler, adapter and
 * introspector over an open S3db.
 *
 * @module
 */
import type { S3db } from '@s3db/core'
import {
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  SqliteIntrospector,
  SqliteQueryCompiler,
} from 'kysely'
import { S3dbAdapter } from './adapter.js'
import { S3dbDriver } from './driver.js'

/** Configuration of {@link S3dbDialect}. */
export interface S3dbDialectConfig {
  /** An open database (see `S3db.open`). It stays owned by the caller: close it yourself. */
  s3db: S3db
}

/**
 * A Kysely dialect over an open S3db. Prefer {@link S3dbKysely}, which also makes
 * `transaction().execute(fn)` re-run `fn` on conflict; with a plain `Kysely`
 * and this dialect, transactions are atomic but fail with WriteConflictError
 * when another writer commits first.
 */
export class S3dbDialect implements Dialect {
  readonly s3db: S3db

  constructor(config: S3dbDialectConfig) {
    if (!config?.s3db) throw new TypeError('S3dbDialect needs { s3db }: an open S3db')
    this.s3db = config.s3db
  }

  createDriver(): Driver {
    return new S3dbDriver(this.s3db)
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler()
  }

  createAdapter(): DialectAdapter {
    return new S3dbAdapter()
  }

  // biome-ignore lint/suspicious/noExplicitAny: Kysely's Dialect interface takes Kysely<any>
  createIntrospector(db: Kysely<any>): DatabaseIntrospector {
    return new SqliteIntrospector(db)
  }
}
