/**
 * Opens the BlobStore a target names. S3 configuration comes from the standard
 * AWS environment and profiles (the SDK's default provider chain); the endpoint
 * from AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3) for MinIO/R2.
 *
 * @module
 */
import { stat } from 'node:fs/promises'
import { type BlobStore, FileSystemBlobStore, S3BlobStore } from '@s3db/core'
import { CliError } from './errors.js'
import { endpointSetting } from './explain.js'
import { IGNORE_CONDITIONS_ENV, IgnoreConditionsStore } from './ignore-conditions-store.js'
import type { StoreActivity } from './interrupts.js'
import { PublishGuardStore } from './publish-guard.js'
import type { Target } from './target.js'

export interface StoreOptions {
  /** --path-style given on the command line. */
  pathStyle?: boolean | undefined
  /** The command may create the filesystem store's root directory (init, push --create). */
  create?: boolean | undefined
  /** --debug: let the SDK's own warnings through. */
  debug?: boolean | undefined
  /** Records what the command does to the store; its manifest writes are not interruptible. */
  activity?: StoreActivity | undefined
  env?: NodeJS.ProcessEnv | undefined
}

/**
 * Path-style addressing (http://host/bucket/key), which MinIO and most
 * self-hosted servers need: --path-style, or S3DB_S3_PATH_STYLE=1/0, else on
 * exactly when a custom endpoint is set.
 */
export function usePathStyle(options: StoreOptions, env: NodeJS.ProcessEnv): boolean {
  if (options.pathStyle) return true
  const flag = env.S3DB_S3_PATH_STYLE
  if (flag !== undefined && flag !== '') return !['0', 'false', 'no', 'off'].includes(flag)
  return Boolean(s3Endpoint(env))
}

function s3Endpoint(env: NodeJS.ProcessEnv): string | undefined {
  return endpointSetting(env)?.value
}

/**
 * The endpoint, checked before any request: without a scheme the SDK fails
 * later with a bare "Invalid URL" that names no setting.
 */
function checkedEndpoint(env: NodeJS.ProcessEnv): string | undefined {
  const setting = endpointSetting(env)
  if (!setting) return undefined
  let url: URL | undefined
  try {
    url = new URL(setting.value)
  } catch {
    url = undefined
  }
  if (url?.protocol !== 'http:' && url?.protocol !== 'https:') {
    const bare = setting.value.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '')
    throw new CliError(
      `${setting.name}=${JSON.stringify(setting.value)} is not an http:// or https:// URL`,
      `give the scheme, e.g. ${setting.name}=http://${bare} (MinIO's default) or https://${bare}`,
    )
  }
  return setting.value
}

/**
 * The SDK prints some warnings itself ("An error was encountered in a
 * non-retryable streaming request." when an upload is interrupted); the CLI
 * reports every failure in its own words, so they only show with --debug.
 */
function sdkLogger(debug: boolean) {
  const warn = (...args: unknown[]) => {
    if (debug) console.error('aws-sdk:', ...args)
  }
  return { debug: () => {}, info: () => {}, warn, error: warn }
}

export async function openStore(target: Target, options: StoreOptions = {}): Promise<BlobStore> {
  const env = options.env ?? process.env
  let store: BlobStore
  if (target.kind === 's3') {
    const region = env.AWS_REGION || env.AWS_DEFAULT_REGION || undefined
    store = new S3BlobStore({
      bucket: target.bucket,
      clientConfig: {
        endpoint: checkedEndpoint(env),
        logger: sdkLogger(options.debug === true),
        region,
        forcePathStyle: usePathStyle(options, env),
        // Without a configured region, follow S3's redirect to the bucket's region.
        followRegionRedirects: true,
      },
    })
  } else {
    if (!options.create) {
      const exists = await stat(target.root).then(
        (s) => s.isDirectory(),
        () => false,
      )
      if (!exists) {
        throw new CliError(
          `no database at ${target.display}: directory ${target.root} does not exist`,
          'check the path, or create a database with `s3db init`',
        )
      }
    }
    store = await FileSystemBlobStore.open(target.root)
  }
  if (env[IGNORE_CONDITIONS_ENV] === '1') store = new IgnoreConditionsStore(store)
  if (options.activity) {
    store = new PublishGuardStore(store, `${target.prefix}manifest.json`, options.activity)
  }
  return store
}
