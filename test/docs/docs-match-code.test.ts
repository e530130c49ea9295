/**
 * Statements in the docs that once drifted from the code, checked against it.
 */
import { execFile, execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { DEFAULTS } from '../../packages/core/src/s3db.js'

const execFileP = promisify(execFile)
const ROOT = join(import.meta.dirname, '../..')
const read = (path: string) => readFileSync(join(ROOT, path), 'utf8')
const trackedMarkdown = () =>
  execFileSync('git', ['ls-files', '-z', '*.md'], { cwd: ROOT, encoding: 'utf8' })
    .split('\0')
    .filter(Boolean)

describe('docs match the code', () => {
  it('every default of maxRetries and autoCompact the docs state is the one S3db.open uses', () => {
    const stated: { file: string; value: number }[] = []
    for (const file of trackedMarkdown()) {
      for (const paragraph of read(file).split(/\n\s*\n/)) {
        if (!paragraph.includes('maxRetries')) continue
        for (const m of paragraph.matchAll(/\(default (\d+)\)|TypeScript: (\d+)/g)) {
          stated.push({ file, value: Number(m[1] ?? m[2]) })
        }
      }
    }
    // examples/lambda/README.md once said 50.
    expect(stated.map((s) => s.file)).toContain('examples/lambda/README.md')
    for (const s of stated) expect(s).toEqual({ file: s.file, value: DEFAULTS.maxRetries })
    const readme = read('README.md')
    expect(readme).toMatch(new RegExp(`\\| \`maxRetries\`\\s*\\| \`${DEFAULTS.maxRetries}\``))
    expect(readme).toMatch(new RegExp(`\\| \`autoCompact\`\\s*\\| \`${DEFAULTS.autoCompact}\``))
  })

  it("the Next.js demo's README names its filesystem database for s3db status", () => {
    const prefix = /prefix: '([^'/]+)\/'/.exec(read('examples/nextjs/src/db/store.ts'))?.[1]
    expect(prefix).toBe('board')
    expect(read('examples/nextjs/README.md')).toContain(
      `npm run s3db -- status examples/nextjs/.data/store/${prefix}`,
    )
  })

  it("the CLI README's test instructions build every package its tests load", () => {
    const tests = read('packages/cli/README.md').split('## Tests')[1] ?? ''
    const commands = /```sh\n([\s\S]*?)```/.exec(tests)?.[1] ?? ''
    // The migrate tests skip when @s3db/drizzle or @s3db/kysely is not built.
    const buildsAll =
      /^npm run build$/m.test(commands) ||
      ['core', 'cli', 'drizzle', 'kysely'].every((p) => commands.includes(`--filter=@s3db/${p}`))
    expect(buildsAll, commands).toBe(true)
    expect(commands).toContain('npx vitest run packages/cli')
  })

  it('biome skips git-ignored files, such as the databases examples write to .data/', async () => {
    const probe = join(ROOT, 'examples/basic/.data', `lint-probe-${process.pid}`)
    mkdirSync(probe, { recursive: true })
    try {
      // Badly formatted on purpose: biome would flag both if it looked at them.
      writeFileSync(join(probe, 'manifest.json'), '{"seq":1,   "log":[ ]}')
      writeFileSync(join(probe, 'probe.ts'), 'const   x =  1')
      const biome = join(ROOT, 'node_modules/.bin/biome')
      const run = (...args: string[]) =>
        execFileP(biome, ['check', ...args, 'examples/basic'], { cwd: ROOT }).then(
          () => 0,
          (e: { code: number }) => e.code,
        )
      expect(await run()).toBe(0)
      // The control: without the ignore file the same check fails on the probe.
      expect(await run('--vcs-use-ignore-file=false')).not.toBe(0)
    } finally {
      rmSync(probe, { recursive: true, force: true })
    }
  })
})
