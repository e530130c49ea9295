/**
 * Store errors whose real cause is on this side of the wire, said the way a
 * user can act on. The engine reports what the request saw ("access denied",
 * "request failed: EPROTO"); the CLI knows the environment it was given and can
 * name the setting that is wrong.
 *
 * @module
 */
import { isS3dbError } from '@s3db/core'
import { CliError } from './errors.js'

/** The S3 endpoint the CLI was configured with (AWS_ENDPOINT_URL_S3 wins, as in the SDK). */
export function endpointSetting(
  env: NodeJS.ProcessEnv,
): { name: string; value: string } | undefined {
  for (const name of ['AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL']) {
    const value = env[name]
    if (value) return { name, value }
  }
  return undefined
}

/** Every error in the `cause` chain, outermost first. */
function causes(err: unknown): unknown[] {
  const chain: unknown[] = []
  for (let e = err; e !== undefined && e !== null && chain.length < 10; ) {
    chain.push(e)
    e = (e as { cause?: unknown }).cause
  }
  return chain
}

function field(err: unknown, key: 'name' | 'code' | 'message'): string {
  const v = (err as Record<string, unknown> | undefined)?.[key]
  return typeof v === 'string' ? v : ''
}

/**
 * A clearer error for the known misconfigurations, or `err` itself. The
 * original stays the `cause`, so `--debug` still shows what the SDK said.
 */
export function explainError(err: unknown, env: NodeJS.ProcessEnv): unknown {
  if (!isS3dbError(err)) return err
  const chain = causes(err)
  // The SDK's credential chain found nothing: nothing was denied, there was nothing to send.
  const noCredentials = chain.find((e) => field(e, 'name') === 'CredentialsProviderError')
  if (noCredentials) {
    const why = field(noCredentials, 'message')
    return new CliError(
      `no AWS credentials found${why ? ` (${why.replace(/\s*\n\s*/g, ' ')})` : ''}`,
      'set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (a profile in ~/.aws/config)',
      { cause: err },
    )
  }
  // https:// against a plain-HTTP server: OpenSSL reads the HTTP reply as a TLS
  // record and fails with "wrong version number" (EPROTO).
  const endpoint = endpointSetting(env)
  const plainHttp = chain.some(
    (e) =>
      field(e, 'code') === 'EPROTO' ||
      /EPROTO|wrong version number|packet length too long/.test(field(e, 'message')),
  )
  if (plainHttp && endpoint && /^https:/i.test(endpoint.value)) {
    const http = endpoint.value.replace(/^https:/i, 'http:')
    return new CliError(
      `${endpoint.name}=${endpoint.value} uses https, but the server there answered in plain HTTP`,
      `use ${endpoint.name}=${http}`,
      { cause: err },
    )
  }
  return err
}
