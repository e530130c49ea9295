/**
 * The Kysely Driver over an S3db. It owns no connections: each acquired
 * connection is a lightweight routing handle (see connection.ts), so any
 * number of them can be in use at once.
 *
 * @module
 */
import { InvalidArgumentError, type S3db } from '@s3db/core'
import type {
  AbortableOperationOptions,
  DatabaseConnection,
  Driver,
  TransactionSettings,
} from 'kysely'
import { S3dbConnection } from './connection.js'

function s3dbConnection(connection: DatabaseConnection): S3dbConnection {
  if (connection instanceof S3dbConnection) return connection
  throw new InvalidArgumentError('s3db: the connection was not created by the s3db Kysely driver')
}

/**
 * Kysely's Driver for s3db. Transactions begun through it (Kysely's
 * `startTransaction()`, or `transaction()` on a plain `Kysely` with
 * {@link S3dbDialect}) are held open statement by statement and cannot be
 * re-run: if their commit loses the race to another writer they fail with
 * WriteConflictError and nothing is committed.
 */
export class S3dbDriver implements Driver {
  readonly #s3db: S3db

  constructor(s3db: S3db) {
    this.#s3db = s3db
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    return new S3dbConnection(this.#s3db)
  }

  async beginTransaction(
    connection: DatabaseConnection,
    settings: TransactionSettings,
  ): Promise<void> {
    await s3dbConnection(connection).begin(settings)
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await s3dbConnection(connection).commit()
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    await s3dbConnection(connection).rollback()
  }

  async savepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    s3dbConnection(connection).savepointCommand('SAVEPOINT', savepointName)
  }

  async rollbackToSavepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    s3dbConnection(connection).savepointCommand('ROLLBACK TO', savepointName)
  }

  async releaseSavepoint(connection: DatabaseConnection, savepointName: string): Promise<void> {
    s3dbConnection(connection).savepointCommand('RELEASE', savepointName)
  }

  async releaseConnection(
    connection: DatabaseConnection,
    _options?: AbortableOperationOptions,
  ): Promise<void> {
    await s3dbConnection(connection).release()
  }

  /** The S3db belongs to the caller: destroying Kysely leaves it open (close it yourself). */
  async destroy(): Promise<void> {}
}
