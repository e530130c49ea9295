/**
 * The closing line of test/support/summary-reporter.ts, on a real vitest run of
 * fixtures: a test file that fails to load must count as a failure (it used to be
 * reported as "0 failed", which CI reads as green).
 */
import { execFile } from 'node:child_process'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { expect, it } from 'vitest'

const execFileP = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')

it('counts a test file that fails to load as failed, and names it', async () => {
  const vitest = join(ROOT, 'node_modules/vitest/vitest.mjs')
  const config = join(import.meta.dirname, 'fixtures/vitest.config.ts')
  const result = await execFileP(process.execPath, [vitest, 'run', '--config', config], {
    cwd: ROOT,
    env: { ...process.env, CI: 'true', NO_COLOR: '1' },
  }).then(
    (r) => ({ code: 0, stdout: r.stdout }),
    (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
  )
  expect(result.code).toBe(1)
  const lines = result.stdout.trim().split('\n')
  expect(lines.at(-1)).toBe('tests: 1 passed, 1 failed, 1 skipped')
  expect(result.stdout).toContain(
    'failed outside its tests (load or hook error): broken-import.fixture.ts',
  )
})
