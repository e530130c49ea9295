/**
 * The package.json of every published package says what a user's npm needs:
 * entry points that the build produces, the files to ship, the Node version, peers
 * at the ranges the tests run, license and repository. Cheap checks that catch a
 * regression before the outside-install test does, with a clearer message.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { MINIMUM_NODE } from '../../packages/core/src/node-version.js'
import { PUBLISHED } from '../../scripts/pack-packages.ts'

const ROOT = join(import.meta.dirname, '../..')
const readJson = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'))
const root = readJson('package.json')
const packages = PUBLISHED.map((folder) => ({
  folder,
  dir: `packages/${folder}`,
  pkg: readJson(`packages/${folder}/package.json`),
}))
const tracked = new Set(
  execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' }).split('\0'),
)

describe.each(packages)('$pkg.name', ({ folder, dir, pkg }) => {
  it('has the version, Node range, license and repository of the workspace', () => {
    expect(pkg.version).toBe(readJson('packages/core/package.json').version)
    expect(pkg.engines).toEqual(root.engines)
    expect(pkg.license).toBe('MIT')
    expect(readFileSync(join(ROOT, dir, 'LICENSE'), 'utf8')).toBe(
      readFileSync(join(ROOT, 'LICENSE'), 'utf8'),
    )
    expect(pkg.repository).toEqual({ ...root.repository, directory: dir })
    expect(pkg.private).toBeUndefined()
    expect(tracked.has(`${dir}/README.md`)).toBe(true)
  })

  it('builds from a clean dist/ before npm pack and npm publish', () => {
    expect(pkg.scripts.prepack).toBe('npm run build')
    expect(pkg.scripts.build).toMatch(/rmSync\('dist'.*&& tsc -p tsconfig\.build\.json$/)
  })

  it('points its entry points at files its build emits from src/', () => {
    expect(pkg.type).toBe('module')
    expect(pkg.main).toBe('./dist/index.js')
    expect(pkg.types).toBe('./dist/index.d.ts')
    expect(pkg.files).toEqual(folder === 'cli' ? ['bin', 'dist'] : ['dist'])
    for (const [sub, target] of Object.entries(pkg.exports as Record<string, unknown>)) {
      if (sub === './package.json') continue
      const { types, default: js } = target as { types: string; default: string }
      expect(Object.keys(target as object)[0], 'types must come first').toBe('types')
      for (const [file, ext] of [
        [types, '.d.ts'],
        [js, '.js'],
      ] as const) {
        const src = file.replace(/^\.\/dist\//, 'src/').replace(ext, '.ts')
        expect(tracked.has(`${dir}/${src}`), `${pkg.name} ${sub} -> ${file}`).toBe(true)
      }
    }
  })

  it('depends on other s3db packages at exactly this version, and on ORMs as peers at the tested ranges', () => {
    const all = { ...pkg.dependencies, ...pkg.peerDependencies }
    for (const [name, range] of Object.entries(all)) {
      if (name.startsWith('@s3db/')) expect(range, name).toBe(pkg.version)
    }
    for (const orm of ['kysely', 'drizzle-orm']) {
      expect(pkg.dependencies?.[orm], `${orm} must be a peer`).toBeUndefined()
      const peer = pkg.peerDependencies?.[orm]
      // The range the repository installs and tests (a devDependency here or in the ORM package).
      if (peer) {
        const tested = [...packages.map((p) => p.pkg.devDependencies?.[orm])].find(Boolean)
        expect(peer, orm).toBe(tested)
      }
    }
  })
})

describe('the CLI', () => {
  const cli = packages.find((p) => p.folder === 'cli')!
  it('has a bin that is a tracked, executable file, so npm ci links it before any build', () => {
    expect(cli.pkg.bin).toEqual({ s3db: './bin/s3db.js' })
    const bin = 'packages/cli/bin/s3db.js'
    expect(tracked.has(bin)).toBe(true)
    expect(statSync(join(ROOT, bin)).mode & 0o111).not.toBe(0)
    expect(readFileSync(join(ROOT, bin), 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true)
    // The mode git records is what a fresh clone gets.
    const mode = execFileSync('git', ['ls-files', '-s', bin], { cwd: ROOT, encoding: 'utf8' })
    expect(mode.split(' ')[0]).toBe('100755')
  })

  it('declares the ORM packages that s3db migrate loads as optional peers', () => {
    for (const name of ['@s3db/drizzle', '@s3db/kysely', 'kysely']) {
      expect(cli.pkg.peerDependencies[name], name).toBeDefined()
      expect(cli.pkg.peerDependenciesMeta[name], name).toEqual({ optional: true })
    }
  })
})

describe('the Node version', () => {
  it('is the same everywhere: engines, the import-time check, the CLI, .npmrc engine-strict', () => {
    const [major, minor] = MINIMUM_NODE.split('.')
    expect(root.engines.node).toBe(`>=${major}.${minor}`)
    expect(readFileSync(join(ROOT, 'packages/cli/src/bin.ts'), 'utf8')).toContain(
      `${major}.${minor}`,
    )
    expect(readFileSync(join(ROOT, '.npmrc'), 'utf8')).toMatch(/^engine-strict=true$/m)
  })

  it('is checked before npm start, test, bench and soak', () => {
    for (const script of ['start', 'test', 'bench', 'soak']) {
      expect(root.scripts[script], script).toMatch(/^node scripts\/check-node\.cjs && /)
    }
    expect(existsSync(join(ROOT, 'scripts/check-node.cjs'))).toBe(true)
  })
})
