import type { BlobStore, PutBody, PutOptions } from '@s3db/core'
import { MemoryBlobStore } from '@s3db/core'

/**
 * A deliberately broken store that ignores If-Match and If-None-Match, as several
 * "S3-compatible" servers do (they answer 200 to a stale conditional PUT).
 */
export class IgnoresConditionsStore extends MemoryBlobStore implements BlobStore {
  override put(key: string, body: PutBody, options: PutOptions = {}): Promise<{ etag: string }> {
    return super.put(key, body, { signal: options.signal })
  }
}
