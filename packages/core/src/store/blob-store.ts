/**
 * The storage contract s3db needs: an object store with compare-and-swap on
 * ETags. S3, MinIO and R2 provide it natively; the filesystem and memory stores
 * emulate it exactly.
 *
 * @module
 */

/** Options every store call accepts. */
export interface CallOptions {
  /** Cancels the call; it then rejects with an `AbortedError`. */
  signal?: AbortSignal | undefined
}

/** A byte range; `end` is exclusive. Omit `end` to read to the end of the object. */
export interface ByteRange {
  start: number
  end?: number | undefined
}

/** Options of {@link BlobStore.get} and {@link BlobStore.getStream}. */
export interface GetOptions extends CallOptions {
  /** Return `{ notModified: true }` instead of the body when the ETag still equals this one. */
  ifNoneMatch?: string | undefined
  /** Read only these bytes. Ranges past the end are clamped, as S3 does. */
  range?: ByteRange | undefined
  /**
   * Refuse with `ObjectTooLargeError` an object larger than this many bytes (its
   * whole size, whatever range is read): checked before reading, and again while
   * a stream arrives, so memory never grows with what the store holds.
   */
  maxBytes?: number | undefined
}

/** The object has not changed since the ETag given as `ifNoneMatch`. */
export interface NotModified {
  notModified: true
  etag: string
}

/** Metadata of a stored object. */
export interface BlobInfo {
  /** Normalised ETag (no quotes, no `W/`). */
  etag: string
  /** Size of the whole object in bytes (not of the range read). */
  size: number
  lastModified?: Date | undefined
  /**
   * The store's own clock when it answered (S3: the HTTP Date header), where the
   * store reports it. GC measures ages in store time with it, so a skewed local
   * clock cannot make it delete early.
   */
  storeTime?: Date | undefined
}

/** A whole (or ranged) object read into memory. */
export interface BlobData extends BlobInfo {
  notModified: false
  body: Uint8Array
}

/** An object read as a stream; consume or `destroy()` it to release resources. */
export interface BlobStream extends BlobInfo {
  notModified: false
  body: AsyncIterable<Uint8Array> & { destroy?: (err?: Error) => void }
}

/**
 * A body to upload. A `Uint8Array` is sent as is; a {@link BodySource} streams
 * `size` bytes and can be reopened, so a store may re-send it.
 */
export type PutBody = Uint8Array | BodySource

/** A re-openable streaming body of known length (e.g. a file). */
export interface BodySource {
  readonly size: number
  open(): AsyncIterable<Uint8Array>
  /**
   * The local file the body is read from, when it is one: a store may copy it
   * directly (the filesystem store does, without the body passing through
   * memory).
   */
  readonly path?: string | undefined
}

/** Conditions for {@link BlobStore.put}. At most one may be given. */
export interface PutOptions extends CallOptions {
  /** Write only if the current ETag equals this (compare-and-swap). A missing key fails. */
  ifMatch?: string | undefined
  /** Write only if the key does not exist yet (create-only). */
  ifNoneMatch?: boolean | undefined
  /** Optional MIME type recorded where the store supports it. */
  contentType?: string | undefined
}

/** Options of {@link BlobStore.list}. */
export interface ListOptions extends CallOptions {
  /**
   * Entries per request, where the store lists in pages (S3's MaxKeys, at most
   * {@link LIST_PAGE}). A hint that changes no result: the listing still
   * yields every entry. A caller that stops after the first few saves the
   * transfer and parsing of a full page.
   */
  pageSize?: number | undefined
}

/** Entries per page of a listing when not asked otherwise (S3's largest page). */
export const LIST_PAGE = 1000

/** The page size a listing with `options` uses on a store that lists in pages. */
export function listPageOf(options: ListOptions | undefined): number {
  const n = options?.pageSize
  return n !== undefined && Number.isInteger(n) && n > 0 && n < LIST_PAGE ? n : LIST_PAGE
}

/** One entry of {@link BlobStore.list}. */
export interface ListEntry {
  key: string
  size: number
  etag?: string | undefined
  lastModified?: Date | undefined
}

/**
 * An object store with conditional writes. Keys are `/`-separated strings;
 * implementations map failures to typed errors: `NotFoundError` for a missing
 * key, `PreconditionFailedError` for a lost condition, `StoreUnavailableError`
 * for transient or ambiguous failures (see its `maybeApplied`), `AbortedError`.
 */
export interface BlobStore {
  /** Reads an object into memory. Throws `NotFoundError` if it does not exist. */
  get(key: string, options?: GetOptions): Promise<BlobData | NotModified>
  /** Reads an object as a stream (for large objects). Throws `NotFoundError` if missing. */
  getStream(key: string, options?: GetOptions): Promise<BlobStream | NotModified>
  /** Reads an object's metadata. Throws `NotFoundError` if it does not exist. */
  stat(key: string, options?: CallOptions): Promise<BlobInfo>
  /** Writes an object, optionally conditionally. Returns the new ETag. */
  put(key: string, body: PutBody, options?: PutOptions): Promise<{ etag: string }>
  /** Lists objects whose key starts with `prefix`, in key order, across all pages. */
  list(prefix: string, options?: ListOptions): AsyncIterable<ListEntry>
  /** Deletes an object; deleting a missing key succeeds. */
  delete(key: string, options?: CallOptions): Promise<void>
  /** Deletes many objects (batched where the store can); fails if any single delete failed. */
  deleteMany(keys: readonly string[], options?: CallOptions): Promise<void>
  /** Deletes every object under `prefix`; returns how many were deleted. */
  deletePrefix(prefix: string, options?: CallOptions): Promise<number>
  /**
   * Optional: copies `from` to the new key `to` inside the store, without the
   * bytes passing through this process (S3 CopyObject; a hard link or a file
   * copy on the filesystem store). The copy is independent of the source:
   * deleting either leaves the other. Stores without it are copied through
   * memory by `S3db.branch`. Throws `NotFoundError` when `from` does not exist.
   */
  copy?(from: string, to: string, options?: CallOptions): Promise<{ etag: string }>
}
