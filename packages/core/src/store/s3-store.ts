import { Readable } from 'node:stream'
import type {
  GetObjectCommandOutput,
  ListObjectsV2CommandOutput,
  S3ClientConfig,
} from '@aws-sdk/client-s3'
import {
  CopyObjectCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3'
import {
  AbortedError,
  AccessDeniedError,
  BucketNotFoundError,
  InvalidArgumentError,
  NotFoundError,
  PreconditionFailedError,
  S3dbError,
  StoreUnavailableError,
  throwIfAborted,
} from '../errors.js'
import {
  type BlobData,
  type BlobInfo,
  type BlobStore,
  type BlobStream,
  type CallOptions,
  type GetOptions,
  LIST_PAGE,
  type ListEntry,
  type ListOptions,
  listPageOf,
  type NotModified,
  type PutBody,
  type PutOptions,
} from './blob-store.js'
import { bodyBytes, normalizeEtag } from './body.js'
import { validateKey, validatePrefix } from './keys.js'
import { clampRange } from './range.js'
import { assertOneCondition, cappedBody, checkMaxBytes, deleteListed } from './store-util.js'

/** Options of {@link S3BlobStore}. */
export interface S3BlobStoreOptions {
  /** Bucket holding the database(s). */
  bucket: string
  /**
   * A configured client (credentials, region, endpoint). When omitted, one is
   * created from `clientConfig` and the standard AWS environment.
   */
  client?: S3Client | undefined
  /** Used only when `client` is omitted. Set `forcePathStyle: true` for MinIO. */
  clientConfig?: S3ClientConfig | undefined
}

/** Largest batch S3's DeleteObjects accepts. */
const DELETE_BATCH = 1000

/**
 * A store over Amazon S3 or an S3-compatible service with conditional writes
 * (AWS S3, MinIO, Cloudflare R2). Uses `If-Match`/`If-None-Match` on PUT for
 * compare-and-swap; a 412 and S3's 409 ConditionalRequestConflict both become
 * `PreconditionFailedError`.
 *
 * The SDK retries failed requests on its own. For a conditional PUT that is
 * dangerous: a first attempt may have been applied before its response was lost,
 * and the retry then fails its own precondition. When a conditional PUT fails
 * after more than one attempt, or with a network error or 5xx after it may have
 * been sent, this store raises `StoreUnavailableError` with `maybeApplied: true`
 * rather than a misleading verdict; s3db's commit protocol then reads the manifest
 * to learn the outcome.
 */
export class S3BlobStore implements BlobStore {
  readonly bucket: string
  readonly client: S3Client

  constructor(options: S3BlobStoreOptions) {
    if (!options.bucket || typeof options.bucket !== 'string') {
      throw new InvalidArgumentError('S3BlobStore needs a bucket name')
    }
    this.bucket = options.bucket
    this.client = options.client ?? new S3Client(options.clientConfig ?? {})
  }

  async get(key: string, options: GetOptions = {}): Promise<BlobData | NotModified> {
    const res = await this.getStream(key, options)
    if (res.notModified) return res
    const chunks: Uint8Array[] = []
    for await (const chunk of res.body) chunks.push(chunk)
    const { body: _stream, ...info } = res
    return { ...info, body: chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks) }
  }

  async getStream(key: string, options: GetOptions = {}): Promise<BlobStream | NotModified> {
    validateKey(key)
    throwIfAborted(options.signal)
    const range = options.range
    if (range) clampRange(range, Number.MAX_SAFE_INTEGER) // validates
    if (range && range.end !== undefined && range.end <= range.start) {
      // An empty range is not expressible as an HTTP Range: answer from metadata.
      const info = await this.stat(key, options)
      if (options.ifNoneMatch !== undefined && normalizeEtag(options.ifNoneMatch) === info.etag) {
        return { notModified: true, etag: info.etag }
      }
      checkMaxBytes(key, info.size, options.maxBytes)
      return { ...info, notModified: false, body: Readable.from([]) }
    }
    let res: GetObjectCommandOutput
    let storeTime: Date | undefined
    try {
      const command = new GetObjectCommand({
        Bucket: this.bucket,
        Key: key,
        IfNoneMatch: options.ifNoneMatch === undefined ? undefined : quote(options.ifNoneMatch),
        Range: range
          ? `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}`
          : undefined,
      })
      // The server's clock (Date header): GC measures object ages in store time.
      command.middlewareStack.add(
        (next) => async (args) => {
          const out = await next(args)
          const date = (out.response as { headers?: Record<string, string> }).headers?.date
          if (date && !Number.isNaN(Date.parse(date))) storeTime = new Date(date)
          return out
        },
        { step: 'deserialize', name: 's3dbStoreTime' },
      )
      res = await this.client.send(command, { abortSignal: options.signal })
    } catch (err) {
      const status = httpStatus(err)
      if (status === 304) {
        return { notModified: true, etag: normalizeEtag(options.ifNoneMatch ?? '') }
      }
      if (status === 416 && range) {
        // Range starts past the end: S3 refuses it, our contract clamps to empty.
        const info = await this.stat(key, options)
        checkMaxBytes(key, info.size, options.maxBytes)
        return { ...info, notModified: false, body: Readable.from([]) }
      }
      throw this.#mapError(err, key, false)
    }
    const etag = normalizeEtag(res.ETag ?? '')
    const size = totalSize(res)
    const body = (res.Body as unknown as Readable | undefined) ?? Readable.from([])
    try {
      checkMaxBytes(key, size, options.maxBytes)
    } catch (err) {
      body.destroy()
      throw err
    }
    return {
      notModified: false,
      etag,
      size,
      lastModified: res.LastModified,
      storeTime,
      // Counted too: the announced length is the server's word, the bytes are what arrive.
      body: cappedBody(body, key, options.maxBytes),
    }
  }

  async stat(key: string, options: CallOptions = {}): Promise<BlobInfo> {
    validateKey(key)
    throwIfAborted(options.signal)
    try {
      const res = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: options.signal,
      })
      return {
        etag: normalizeEtag(res.ETag ?? ''),
        size: res.ContentLength ?? 0,
        lastModified: res.LastModified,
      }
    } catch (err) {
      throw this.#mapError(err, key, false)
    }
  }

  async put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    validateKey(key)
    assertOneCondition(options)
    throwIfAborted(options.signal)
    const conditional = options.ifMatch !== undefined || options.ifNoneMatch === true
    // Small bodies go as bytes (the SDK can re-send them); large ones stream.
    const streamed = !(body instanceof Uint8Array) && body.size > 8 * 1024 * 1024
    const payload =
      body instanceof Uint8Array
        ? body
        : streamed
          ? Readable.from(body.open())
          : await bodyBytes(body)
    try {
      const res = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: key,
          Body: payload,
          ContentLength: body instanceof Uint8Array ? body.byteLength : body.size,
          ContentType: options.contentType ?? 'application/octet-stream',
          IfMatch: options.ifMatch === undefined ? undefined : quote(options.ifMatch),
          IfNoneMatch: options.ifNoneMatch ? '*' : undefined,
        }),
        { abortSignal: options.signal },
      )
      return { etag: normalizeEtag(res.ETag ?? '') }
    } catch (err) {
      throw this.#mapError(err, key, true, conditional)
    }
  }

  /**
   * Server-side copy (CopyObject): the bytes stay in the bucket. S3 copies up
   * to 5 GiB in one request; a larger object is refused with InvalidArgument
   * (its branch would need a multipart copy, which s3db does not do yet).
   */
  async copy(from: string, to: string, options: CallOptions = {}): Promise<{ etag: string }> {
    validateKey(from)
    validateKey(to)
    throwIfAborted(options.signal)
    try {
      const res = await this.client.send(
        new CopyObjectCommand({
          Bucket: this.bucket,
          Key: to,
          CopySource: `${this.bucket}/${from.split('/').map(encodeURIComponent).join('/')}`,
        }),
        { abortSignal: options.signal },
      )
      return { etag: normalizeEtag(res.CopyObjectResult?.ETag ?? '') }
    } catch (err) {
      const mapped = this.#mapError(err, from, true)
      if ((err as { name?: string }).name === 'InvalidRequest')
        throw new InvalidArgumentError(
          `cannot copy ${from} in one request (S3 copies at most 5 GiB at once): ${(err as Error).message}`,
        )
      throw mapped
    }
  }

  async *list(prefix: string, options: ListOptions = {}): AsyncIterable<ListEntry> {
    validatePrefix(prefix)
    const page = listPageOf(options)
    const maxKeys = page < LIST_PAGE ? page : undefined
    let token: string | undefined
    do {
      throwIfAborted(options.signal)
      let page: ListObjectsV2CommandOutput
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: prefix,
            ContinuationToken: token,
            MaxKeys: maxKeys,
          }),
          { abortSignal: options.signal },
        )
      } catch (err) {
        throw this.#mapError(err, prefix, false)
      }
      for (const obj of page.Contents ?? []) {
        if (obj.Key === undefined) continue
        yield {
          key: obj.Key,
          size: obj.Size ?? 0,
          etag: obj.ETag === undefined ? undefined : normalizeEtag(obj.ETag),
          lastModified: obj.LastModified,
        }
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined
    } while (token)
  }

  async delete(key: string, options: CallOptions = {}): Promise<void> {
    validateKey(key)
    throwIfAborted(options.signal)
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }), {
        abortSignal: options.signal,
      })
    } catch (err) {
      const mapped = this.#mapError(err, key, false)
      if (mapped.code !== 'NotFound') throw mapped
    }
  }

  async deleteMany(keys: readonly string[], options: CallOptions = {}): Promise<void> {
    for (const key of keys) validateKey(key)
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      throwIfAborted(options.signal)
      const batch = keys.slice(i, i + DELETE_BATCH)
      let errors: { Key?: string; Code?: string; Message?: string }[] | undefined
      try {
        const res = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true },
          }),
          { abortSignal: options.signal },
        )
        errors = res.Errors
      } catch (err) {
        throw this.#mapError(err, batch[0] ?? '', false)
      }
      // DeleteObjects answers 200 even when single keys failed: check each.
      const failed = (errors ?? []).filter((e) => e.Code !== 'NoSuchKey')
      if (failed.length > 0) {
        const first = failed[0]!
        throw new StoreUnavailableError(
          `failed to delete ${failed.length} of ${batch.length} objects (first: ${first.Key}: ${first.Code} ${first.Message ?? ''})`.trim(),
          { maybeApplied: true },
        )
      }
    }
  }

  deletePrefix(prefix: string, options?: CallOptions): Promise<number> {
    return deleteListed(this, prefix, options)
  }

  /** Turns an SDK error into a typed s3db error. */
  #mapError(err: unknown, key: string, isWrite: boolean, conditional = false): S3dbError {
    if (err instanceof S3dbError) return err
    const e = err as {
      name?: string
      message?: string
      Code?: string
      $metadata?: { httpStatusCode?: number; attempts?: number }
    }
    const status = httpStatus(err)
    const name = e.name ?? e.Code ?? ''
    const attempts = e.$metadata?.attempts ?? 1
    if (name === 'AbortError') {
      return new AbortedError(`request for ${key} was aborted`, { cause: err })
    }
    // Before the conditional checks: a PUT into a missing bucket is a 404 too.
    if (name === 'NoSuchBucket') return new BucketNotFoundError(this.bucket, { cause: err })
    if (
      status === 412 ||
      (status === 409 && name === 'ConditionalRequestConflict') ||
      (isWrite && conditional && (status === 404 || name === 'NoSuchKey'))
    ) {
      if (attempts > 1) {
        // The SDK re-sent a conditional PUT: the first attempt may have been the one that applied.
        return new StoreUnavailableError(
          `conditional write of ${key} failed after the SDK retried it, so an earlier attempt may have succeeded; read the object to learn the outcome`,
          { maybeApplied: true, cause: err },
        )
      }
      return new PreconditionFailedError(key, { cause: err })
    }
    if (status === 404 || name === 'NoSuchKey' || name === 'NotFound')
      return new NotFoundError(key, { cause: err })
    if (
      status === 403 ||
      status === 401 ||
      [
        'AccessDenied',
        'InvalidAccessKeyId',
        'SignatureDoesNotMatch',
        'ExpiredToken',
        'InvalidToken',
        'CredentialsProviderError',
      ].includes(name)
    ) {
      return new AccessDeniedError(
        `access to s3://${this.bucket}/${key} was denied (${name || status}); check the credentials and the bucket policy`,
        { cause: err },
      )
    }
    const notSent = isConnectionRefused(err)
    return new StoreUnavailableError(
      `S3 request for ${key} failed${status ? ` with HTTP ${status}` : ''}: ${name || 'error'}${e.message ? ` (${e.message})` : ''}`,
      {
        maybeApplied: isWrite && !notSent,
        retryable: status === undefined || status >= 500 || status === 429,
        cause: err,
      },
    )
  }
}

function httpStatus(err: unknown): number | undefined {
  return (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode
}

function isConnectionRefused(err: unknown): boolean {
  const code =
    (err as { code?: string })?.code ?? (err as { cause?: { code?: string } })?.cause?.code
  return code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EAI_AGAIN'
}

function quote(etag: string): string {
  const e = normalizeEtag(etag)
  return `"${e}"`
}

/** Whole-object size from Content-Range ("bytes 0-99/1234") or Content-Length. */
function totalSize(res: GetObjectCommandOutput): number {
  const match = res.ContentRange?.match(/\/(\d+)$/)
  if (match) return Number(match[1])
  return res.ContentLength ?? 0
}
