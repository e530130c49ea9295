/**
 * A build of @s3db/core at another git commit, to measure the engine before a
 * change in the same run as after it. The commit's packages/core is extracted
 * with `git archive` into bench/.baseline/<commit>/ (ignored by git) and compiled
 * with the workspace's TypeScript; its imports resolve to the workspace's
 * node_modules. Built once per commit.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

const repo = join(import.meta.dirname, '..', '..')

/** The built dist directory of @s3db/core at `ref`. */
export function baselineEngine(ref: string): string {
  const commit = execFileSync('git', ['rev-parse', '--short', ref], { cwd: repo }).toString().trim()
  const dir = join(repo, 'bench', '.baseline', commit)
  const dist = join(dir, 'packages', 'core', 'dist')
  if (existsSync(join(dist, 'index.js'))) return dist
  mkdirSync(dir, { recursive: true })
  const tar = execFileSync('git', ['archive', commit, 'packages/core', 'tsconfig.base.json'], {
    cwd: repo,
    maxBuffer: 64 << 20,
  })
  execFileSync('tar', ['-x', '-C', dir], { input: tar })
  execFileSync(
    process.execPath,
    [join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'],
    { cwd: join(dir, 'packages', 'core'), stdio: 'inherit' },
  )
  return dist
}

/** The engine of this checkout (built by `npm run bench`). */
export function currentEngine(): string {
  return join(repo, 'packages', 'core', 'dist')
}
