/** `s3db doctor` names each IAM action s3db needs, and which one a store refuses. */
import { AccessDeniedError, type BlobStore, MemoryBlobStore } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { wrapStore } from '../../core/test/helpers.js'
import { permissionsCheck } from '../src/commands/doctor.js'

const signal = new AbortController().signal
const message = (err: unknown) => (err as Error).message
const deny = (): Promise<never> => Promise.reject(new AccessDeniedError('Access Denied'))

async function scratchKeys(store: BlobStore): Promise<string[]> {
  const keys: string[] = []
  for await (const e of store.list('app/db/')) keys.push(e.key)
  return keys
}

describe('doctor: IAM permissions', () => {
  it('passes, naming the four actions, and leaves no scratch object', async () => {
    const store = new MemoryBlobStore()
    const check = await permissionsCheck(store, 'app/db/', signal, message)
    expect(check).toMatchObject({ verdict: 'PASS', required: true })
    for (const action of ['s3:ListBucket', 's3:PutObject', 's3:GetObject', 's3:DeleteObject'])
      expect(check.detail).toContain(action)
    expect(await scratchKeys(store)).toEqual([])
  })

  it('fails naming s3:PutObject when writes are denied', async () => {
    const store = wrapStore(new MemoryBlobStore(), { put: deny })
    const check = await permissionsCheck(store, 'app/db/', signal, message)
    expect(check).toMatchObject({ verdict: 'FAIL', required: true })
    expect(check.detail).toMatch(/denied: s3:PutObject/)
  })

  it('fails naming s3:GetObject, and warns only for s3:DeleteObject (gc needs it)', async () => {
    const noGet = await permissionsCheck(
      wrapStore(new MemoryBlobStore(), { get: deny }),
      'app/db/',
      signal,
      message,
    )
    expect(noGet).toMatchObject({ verdict: 'FAIL' })
    expect(noGet.detail).toMatch(/denied: s3:GetObject/)
    const noDelete = await permissionsCheck(
      wrapStore(new MemoryBlobStore(), { delete: deny }),
      'app/db/',
      signal,
      message,
    )
    expect(noDelete).toMatchObject({ verdict: 'WARN', required: false })
    expect(noDelete.detail).toMatch(/s3:DeleteObject .*only gc needs it/)
  })

  it('fails naming s3:ListBucket when listing is denied', async () => {
    const store = wrapStore(new MemoryBlobStore(), {
      // biome-ignore lint/correctness/useYield: a listing that is refused at once
      list: async function* () {
        throw new AccessDeniedError('Access Denied')
      },
    })
    const check = await permissionsCheck(store, 'app/db/', signal, message)
    expect(check).toMatchObject({ verdict: 'FAIL' })
    expect(check.detail).toMatch(/denied: s3:ListBucket/)
  })
})
