/** The CLI against MinIO through the standard AWS environment, plus S3-specific failures. */
import { join } from 'node:path'
import { S3BlobStore } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { freshBucket, s3Client, s3Endpoint, s3SkipReason } from '../../../test/support/s3.js'
import { cli, expectCleanError, makeSqlite, tempDir } from './helpers.js'
import { storeSuite } from './suite.js'

const skip = s3SkipReason()
if (skip) console.log(`CLI S3 tests SKIPPED: ${skip}`)

function awsEnv(overrides: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const e = s3Endpoint()!
  return {
    AWS_ENDPOINT_URL: e.endpoint,
    AWS_ACCESS_KEY_ID: e.accessKeyId,
    AWS_SECRET_ACCESS_KEY: e.secretAccessKey,
    AWS_REGION: e.region,
    ...overrides,
  }
}

if (!skip) {
  storeSuite('MinIO', async () => {
    const client = s3Client(s3Endpoint()!)
    const bucket = await freshBucket(client, 'cli')
    return {
      target: (name) => `s3://${bucket}/cli/${name}/`,
      prefix: (name) => `cli/${name}/`,
      store: new S3BlobStore({ client, bucket }),
      env: awsEnv(),
    }
  })
}

describe.skipIf(Boolean(skip))('s3db CLI S3 failures', () => {
  it('rejects bucket-root and malformed S3 targets with an example (exit 2)', async () => {
    for (const [target, message] of [
      ['s3://my-bucket', /no database prefix.*s3:\/\/my-bucket\/mydb\//],
      ['s3://my-bucket/', /no database prefix/],
      ['s3://My_Bucket/db/', /invalid bucket name "My_Bucket"/],
      ['s3:///db/', /invalid bucket name ""/],
      ['s3://my-bucket/a//b/', /must not contain empty/],
    ] as const) {
      const r = await cli(['status', target], { env: awsEnv() })
      expect(r.code, `${target}: ${r.stderr}`).toBe(2)
      expectCleanError(r)
      expect(r.stderr).toMatch(message)
    }
  })

  it('reports a missing bucket with a hint', async () => {
    const r = await cli(['status', 's3://no-such-bucket-s3db-cli/db/'], { env: awsEnv() })
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(r.stderr).toMatch(/bucket "no-such-bucket-s3db-cli" does not exist/)
    expect(r.stderr).toMatch(/hint: check the bucket name/)
    const d = await cli(['doctor', 's3://no-such-bucket-s3db-cli/db/'], { env: awsEnv() })
    expect(d.code).toBe(1)
    expect(d.stdout).toMatch(
      /FAIL\s+credentials and bucket access\s+bucket "no-such-bucket-s3db-cli"/,
    )
    expect(d.stdout).toMatch(/SKIP\s+manifest valid/)
  })

  it('init and push --create on a missing bucket say the bucket is missing', async () => {
    const dir = await tempDir('nobucket')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    for (const args of [
      ['init', 's3://no-such-bucket-s3db-cli/app/'],
      ['init', 's3://no-such-bucket-s3db-cli/app/', '--from', seed],
      ['push', 's3://no-such-bucket-s3db-cli/app/', '-f', seed, '--create'],
    ]) {
      const r = await cli(args, { env: awsEnv() })
      expect(r.code, r.stderr).toBe(1)
      expectCleanError(r)
      expect(r.stderr).toMatch(/bucket "no-such-bucket-s3db-cli" does not exist/)
      expect(r.stderr).toMatch(/hint: check the bucket name/)
      expect(r.stderr).not.toMatch(/object not found|s3db init` creates/)
    }
  })

  it('names the endpoint setting when its scheme is wrong or missing', async () => {
    const http = s3Endpoint()!.endpoint
    const hostPort = http.replace(/^http:\/\//, '')
    const tls = await cli(['status', 's3://some-bucket/db/'], {
      env: awsEnv({ AWS_ENDPOINT_URL: `https://${hostPort}` }),
    })
    expect(tls.code).toBe(1)
    expectCleanError(tls)
    expect(tls.stderr).toContain(
      `s3db: error: AWS_ENDPOINT_URL=https://${hostPort} uses https, but the server there answered in plain HTTP`,
    )
    expect(tls.stderr).toContain(`hint: use AWS_ENDPOINT_URL=http://${hostPort}`)
    expect(tls.stderr).not.toMatch(/EPROTO/)
    for (const value of [hostPort, `localhost:${hostPort.split(':')[1]}`]) {
      const bare = await cli(['status', 's3://some-bucket/db/'], {
        env: awsEnv({ AWS_ENDPOINT_URL: value }),
      })
      expect(bare.code).toBe(1)
      expectCleanError(bare)
      expect(bare.stderr).toContain(`AWS_ENDPOINT_URL="${value}" is not an http:// or https:// URL`)
      expect(bare.stderr).toMatch(/hint: give the scheme, e\.g\. AWS_ENDPOINT_URL=http:\/\//)
      expect(bare.stderr).not.toMatch(/Invalid URL/)
    }
  })

  it('says no credentials were found (not "denied") when there are none', async () => {
    const home = await tempDir('nocreds')
    // No credentials anywhere: not in the environment, no ~/.aws, no instance metadata.
    const env = awsEnv({
      AWS_ACCESS_KEY_ID: undefined,
      AWS_SECRET_ACCESS_KEY: undefined,
      HOME: home,
      AWS_EC2_METADATA_DISABLED: 'true',
    })
    const r = await cli(['status', 's3://some-bucket/db/'], { env })
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(r.stderr).toMatch(/^s3db: error: no AWS credentials found/)
    expect(r.stderr).toMatch(
      /hint: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE/,
    )
    expect(r.stderr).not.toMatch(/denied/)
    const d = await cli(['doctor', 's3://some-bucket/db/'], { env })
    expect(d.code).toBe(1)
    expect(d.stdout).toMatch(/FAIL\s+credentials and bucket access\s+no AWS credentials found/)
  })

  it('reports bad credentials without printing them, even with --debug', async () => {
    const client = s3Client(s3Endpoint()!)
    const bucket = await freshBucket(client, 'clicreds')
    client.destroy()
    const keyId = 'AKIAWRONGKEY1234'
    const secret = 'wrong-secret-value-s3db-cli-5678'
    const env = awsEnv({ AWS_ACCESS_KEY_ID: keyId, AWS_SECRET_ACCESS_KEY: secret })
    for (const args of [
      ['status', `s3://${bucket}/db/`],
      ['init', `s3://${bucket}/db/`],
      ['status', `s3://${bucket}/db/`, '--debug'],
      ['doctor', `s3://${bucket}/db/`],
    ]) {
      const r = await cli(args, { env })
      expect(r.code, r.stderr).toBe(1)
      const all = r.stdout + r.stderr
      expect(all).not.toContain(secret)
      expect(all).not.toContain(keyId)
      expect(all).toMatch(/denied/)
      if (args[0] !== 'doctor') expect(r.stderr).toMatch(/hint: check AWS_ACCESS_KEY_ID/)
    }
  })

  it('reports an unreachable endpoint as a store failure with a hint', async () => {
    const r = await cli(['status', 's3://some-bucket/db/'], {
      env: awsEnv({ AWS_ENDPOINT_URL: 'http://127.0.0.1:9', AWS_MAX_ATTEMPTS: '1' }),
    })
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(r.stderr).toMatch(/hint: check the network and AWS_ENDPOINT_URL/)
  })
})
