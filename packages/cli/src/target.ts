/**
 * Target URLs: where a database lives.
 *
 *   s3://bucket/prefix/           S3 (or MinIO/R2 with AWS_ENDPOINT_URL); the prefix is required
 *   file:///abs/dir/prefix/       filesystem store
 *   ./dir/prefix  or  /abs/dir/prefix
 *                                 filesystem store: the last path segment is the database
 *                                 prefix, its parent directory the store root
 *   /abs/root//app/db             a `//` marks the root/prefix boundary explicitly
 *                                 (root /abs/root, prefix app/db/), in paths and file URLs
 *
 * @module
 */
import { basename, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { isS3dbError } from '@s3db/core'
import { validateDatabasePrefix } from '@s3db/core/internal'
import { UsageError } from './errors.js'

export type Target =
  | { kind: 's3'; bucket: string; prefix: string; display: string }
  | { kind: 'file'; root: string; prefix: string; display: string }

export const TARGET_HELP = `Targets:
  s3://bucket/prefix/        a database in S3 (prefix required; AWS_ENDPOINT_URL for MinIO/R2)
  file:///abs/dir/prefix/    a database in a filesystem store
  ./dir/prefix               same: root ./dir, database prefix "prefix/"
  /srv/root//app/db          "//" splits store root (/srv/root) from prefix (app/db/)`

const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/

function checkedPrefix(prefix: string, input: string): string {
  const withSlash = prefix.endsWith('/') ? prefix : `${prefix}/`
  try {
    validateDatabasePrefix(withSlash)
  } catch (err) {
    if (isS3dbError(err, 'InvalidArgument')) {
      throw new UsageError(`invalid target ${JSON.stringify(input)}: ${err.message}`)
    }
    throw err
  }
  return withSlash
}

function parseS3(input: string): Target {
  const rest = input.slice('s3://'.length)
  const slash = rest.indexOf('/')
  const bucket = slash === -1 ? rest : rest.slice(0, slash)
  const prefix = slash === -1 ? '' : rest.slice(slash + 1)
  if (!BUCKET.test(bucket) || bucket.includes('..')) {
    throw new UsageError(
      `invalid bucket name ${JSON.stringify(bucket)} in ${JSON.stringify(input)}: S3 bucket names are 3-63 lowercase letters, digits, dots and hyphens, e.g. s3://my-bucket/mydb/`,
    )
  }
  if (prefix.replace(/\/+$/, '') === '') {
    throw new UsageError(
      `target ${JSON.stringify(input)} has no database prefix: a database lives under a prefix in the bucket, e.g. s3://${bucket}/mydb/`,
    )
  }
  const p = checkedPrefix(prefix, input)
  return { kind: 's3', bucket, prefix: p, display: `s3://${bucket}/${p}` }
}

function parsePath(path: string, input: string): Target {
  const boundary = path.indexOf('//', path.startsWith('//') ? 2 : 0)
  let root: string
  let prefix: string
  if (boundary > 0) {
    root = resolve(path.slice(0, boundary))
    prefix = path.slice(boundary + 2)
  } else {
    const abs = resolve(path)
    root = dirname(abs)
    prefix = basename(abs)
    if (abs === root) prefix = ''
  }
  if (prefix.replace(/\/+$/, '') === '') {
    throw new UsageError(
      `target ${JSON.stringify(input)} names no database: give the database's directory, e.g. ./data/mydb (store root ./data, prefix mydb/)`,
    )
  }
  const p = checkedPrefix(prefix, input)
  // "//" only where needed: a one-segment prefix reads back the same without it.
  const sep = p.indexOf('/') === p.length - 1 ? '/' : '//'
  return { kind: 'file', root, prefix: p, display: `file://${root === '/' ? '' : root}${sep}${p}` }
}

/** Parses a target; throws UsageError with an example of the right form. */
export function parseTarget(input: string | undefined): Target {
  if (input === undefined || input === '') {
    throw new UsageError('missing <target>, e.g. s3://my-bucket/mydb/ or ./data/mydb')
  }
  if (input.startsWith('s3://')) return parseS3(input)
  if (input.startsWith('file://')) {
    let path: string
    try {
      path = fileURLToPath(input)
    } catch (err) {
      throw new UsageError(
        `invalid file URL ${JSON.stringify(input)}: ${(err as Error).message}; use file:///absolute/dir/prefix/`,
      )
    }
    return parsePath(path, input)
  }
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(input)
  if (scheme) {
    throw new UsageError(
      `unsupported target scheme "${scheme[1]}://" in ${JSON.stringify(input)}: use s3://bucket/prefix/, file:///dir/prefix/ or a directory path`,
    )
  }
  return parsePath(input, input)
}
