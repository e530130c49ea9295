/**
 * Packs every publishable package with `npm pack` (each package's `prepack`
 * builds it from a clean `dist/` first) and checks that each tarball holds exactly
 * what belongs in it: package.json, README.md, LICENSE, the compiled `dist/` (one
 * `.js` and one `.d.ts` per source file, nothing else) and the CLI's `bin/`.
 *
 *   npm run pack-packages                  # tarballs in ./packed/
 *   npm run pack-packages -- --out DIR     # elsewhere
 *   npm run pack-packages -- --json        # a JSON summary on stdout
 *   npm run pack-packages -- --no-build    # pack the dist/ already built (no prepack)
 *
 * Exits 1 when a tarball misses a file or carries one it should not.
 *
 * @module
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { parseArgs } from 'node:util'

/** The publishable packages, in dependency order (each prepack builds against the ones before). */
export const PUBLISHED = ['core', 'kysely-dialect', 'drizzle-driver', 'cli'] as const

const ROOT = resolve(import.meta.dirname, '..')

/** One packed package. */
export interface PackedPackage {
  name: string
  version: string
  /** Absolute path of the tarball. */
  tarball: string
  /** Paths inside the tarball (relative to the package root). */
  files: string[]
  /** Files that should be there and are not, and files that should not be there. */
  missing: string[]
  unexpected: string[]
}

function sourceFiles(dir: string): string[] {
  const out: string[] = []
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts')) {
      out.push(relative(dir, join(entry.parentPath, entry.name)))
    }
  }
  return out
}

/** What the tarball of the package in `packages/<folder>` must contain, and nothing more. */
export function expectedFiles(folder: string): string[] {
  const dir = join(ROOT, 'packages', folder)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
    bin?: Record<string, string>
  }
  const files = ['package.json', 'README.md', 'LICENSE']
  for (const src of sourceFiles(join(dir, 'src'))) {
    const base = src.replace(/\.ts$/, '')
    files.push(`dist/${base}.js`, `dist/${base}.d.ts`)
  }
  for (const target of Object.values(pkg.bin ?? {})) files.push(target.replace(/^\.\//, ''))
  return files.sort()
}

/**
 * Packs one package into `out` and compares its file list with {@link expectedFiles}.
 * `build: false` skips the prepack build and packs the existing dist/ (the tests do
 * this: rebuilding would empty dist/ under the feet of tests running in parallel).
 */
export function packPackage(folder: string, out: string, build = true): PackedPackage {
  const args = ['pack', '--json', '--pack-destination', out, ...(build ? [] : ['--ignore-scripts'])]
  const stdout = execFileSync('npm', args, {
    cwd: join(ROOT, 'packages', folder),
    encoding: 'utf8',
    // The prepack build's log goes to stderr with --json; keep it out of the way.
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const [result] = JSON.parse(stdout) as {
    name: string
    version: string
    filename: string
    files: { path: string }[]
  }[]
  if (!result) throw new Error(`npm pack printed no result for packages/${folder}`)
  const files = result.files.map((f) => f.path).sort()
  const expected = expectedFiles(folder)
  return {
    name: result.name,
    version: result.version,
    tarball: join(out, result.filename),
    files,
    missing: expected.filter((f) => !files.includes(f)),
    unexpected: files.filter((f) => !expected.includes(f)),
  }
}

/** Packs every package in {@link PUBLISHED} into `out`. */
export function packAll(out: string, build = true): PackedPackage[] {
  mkdirSync(out, { recursive: true })
  return PUBLISHED.map((folder) => packPackage(folder, out, build))
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: join(ROOT, 'packed') },
      json: { type: 'boolean' },
      'no-build': { type: 'boolean' },
    },
  })
  const packed = packAll(resolve(values.out), !values['no-build'])
  const bad = packed.filter((p) => p.missing.length > 0 || p.unexpected.length > 0)
  if (values.json) {
    process.stdout.write(`${JSON.stringify(packed, null, 2)}\n`)
  } else {
    for (const p of packed) {
      process.stdout.write(`${p.name}@${p.version}: ${p.files.length} files -> ${p.tarball}\n`)
    }
  }
  for (const p of bad) {
    for (const f of p.missing) process.stderr.write(`pack: ${p.name} is missing ${f}\n`)
    for (const f of p.unexpected) process.stderr.write(`pack: ${p.name} must not contain ${f}\n`)
  }
  if (bad.length > 0) process.exitCode = 1
}
