/** The CLI against the filesystem store, plus target parsing and progress output. */
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { FileSystemBlobStore } from '@s3db/core'
import { describe, expect, it } from 'vitest'
import { cli, expectCleanError, json, makeSqlite, tempDir } from './helpers.js'
import { storeSuite } from './suite.js'

storeSuite('filesystem store', async () => {
  const root = join(await tempDir('fsroot'), 'store')
  const store = await FileSystemBlobStore.open(root)
  return {
    target: (name) => join(root, name),
    prefix: (name) => `${name}/`,
    store,
    env: {},
  }
})

describe('s3db CLI filesystem targets', () => {
  it('addresses one database as a path, a file URL and with an explicit // split', async () => {
    const dir = await tempDir('forms')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    const created = await cli(['init', './data/app/db', '--from', seed], { cwd: dir })
    expect(created.code, created.stderr).toBe(0)
    // Last segment = prefix: root ./data/app, prefix db/.
    expect(existsSync(join(dir, 'data/app/db/manifest.json'))).toBe(true)
    for (const t of [`file://${dir}/data/app/db/`, `${dir}/data/app//db`, 'data/app/db/']) {
      const r = await cli(['sql', t, 'SELECT name FROM users', '--json'], { cwd: dir })
      expect(json(r), t).toEqual([{ name: 'ann' }])
    }
    // A nested prefix needs the explicit split: root data, prefix nested/db/.
    const nested = await cli(['init', `${dir}/data//nested/db`, '--json'], { cwd: dir })
    expect(nested.code, nested.stderr).toBe(0)
    expect(existsSync(join(dir, 'data/nested/db/manifest.json'))).toBe(true)
    const st = await cli(['status', `file://${dir}/data//nested/db/`, '--json'])
    expect(json(st)).toMatchObject({ seq: 0, target: `file://${dir}/data//nested/db/` })
  })

  it('push refuses a file pulled from another store, even at the same prefix and seq', async () => {
    const dir = await tempDir('two-stores')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    for (const root of ['a', 'b']) {
      const r = await cli(['init', `${dir}/${root}//db`, '--from', seed], { cwd: dir })
      expect(r.code, r.stderr).toBe(0)
    }
    const file = join(dir, 'pulled.sqlite')
    expect((await cli(['pull', `${dir}/a//db`, '-o', file])).code).toBe(0)
    const r = await cli(['push', `${dir}/b//db`, '-f', file])
    expect(r.code).toBe(1)
    expectCleanError(r)
    expect(r.stderr).toContain(`was pulled from file://${dir}/a, not file://${dir}/b`)
    expect(r.stderr).toMatch(/hint: push it to the store it came from, or use --force/)
    // Back to where it came from, it pushes.
    const home = await cli(['push', `${dir}/a//db`, '-f', file])
    expect(home.code, home.stderr).toBe(0)
  })

  it('rejects targets without a database prefix or with another scheme (exit 2)', async () => {
    for (const [target, message] of [
      ['/', /names no database/],
      ['gs://bucket/db/', /unsupported target scheme "gs:\/\/"/],
      ['/tmp//', /names no database/],
      ['file://remotehost/x/db', /invalid file URL/],
    ] as const) {
      const r = await cli(['status', target])
      expect(r.code, `${target}: ${r.stderr}`).toBe(2)
      expectCleanError(r)
      expect(r.stderr).toMatch(message)
      expect(r.stderr).toMatch(/Run 's3db status --help' for usage/)
    }
  })

  it('does not create directories when reading a target that does not exist', async () => {
    const dir = await tempDir('nodir')
    const missing = join(dir, 'nope', 'db')
    const r = await cli(['status', missing])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/directory .*nope does not exist/)
    expect(existsSync(join(dir, 'nope'))).toBe(false)
  })

  it('shows a progress bar only when asked for a terminal, never in pipes', async () => {
    const dir = await tempDir('progress')
    const seed = join(dir, 'seed.sqlite')
    makeSqlite(seed, ['ann'])
    const t = join(dir, 'db')
    const quiet = await cli(['init', t, '--from', seed])
    expect(quiet.code, quiet.stderr).toBe(0)
    expect(quiet.stderr).toBe('')
    const pulled = await cli(['pull', t, '-o', join(dir, 'p.sqlite')], {
      env: { S3DB_PROGRESS: '1' },
    })
    expect(pulled.code, pulled.stderr).toBe(0)
    expect(pulled.stderr).toMatch(/\rdownloading snapshot \[#{30}\] 100% /)
    const pushed = await cli(['push', t, '-f', join(dir, 'p.sqlite')], {
      env: { S3DB_PROGRESS: '1' },
    })
    expect(pushed.stderr).toMatch(/\ruploading snapshot \[#{30}\] 100% /)
  })
})
