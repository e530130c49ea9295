/**
 * The key of `S3db[viewNow]`, the ORM drivers' synchronous path for a read
 * statement outside a transaction (see s3db.ts). Internal: exported through
 * `@s3db/core/internal` only.
 *
 * @module
 */
export const viewNow: unique symbol = Symbol('s3db.viewNow')
