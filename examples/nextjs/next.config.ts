import { existsSync, readFileSync, realpathSync } from 'node:fs'
import { dirname, join, relative, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { NextConfig } from 'next'

// The monorepo root: dependencies are hoisted to its node_modules.
const root = fileURLToPath(new URL('../..', import.meta.url))
const appDir = fileURLToPath(new URL('.', import.meta.url))

/** Needed to compile better-sqlite3 from source only; never loaded. */
const BUILD_ONLY = new Set(['node-addon-api'])

/**
 * Globs (relative to this folder) of the files of `names` and of everything they
 * depend on, for the standalone output. The s3db packages are imported at run
 * time by name (src/db/packages.ts), which the tracer cannot follow, so it is
 * told. Runtime files only (no sources, declarations or maps); native binaries:
 * this platform's only.
 */
function runtimePackageFiles(names: string[]): string[] {
  const seen = new Set<string>()
  const globs: string[] = []
  const find = (name: string, from: string): string | undefined => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name)
      if (existsSync(join(candidate, 'package.json'))) return candidate
      if (dir === dirname(dir)) return undefined
    }
  }
  const visit = (name: string, from: string): void => {
    const dir = find(name, from)
    if (!dir || BUILD_ONLY.has(name)) return // an optional dependency for another platform
    const real = realpathSync(dir)
    if (seen.has(real)) return
    seen.add(real)
    const rel = relative(appDir, dir).split('\\').join('/')
    if (name === 'better-sqlite3') {
      const platforms = process.platform === 'linux' ? 'linux{,musl}' : process.platform
      globs.push(
        `${rel}/{package.json,LICENSE,lib/**/*.js,prebuilds/${platforms}-${process.arch}.node}`,
      )
    } else if (!real.split(sep).includes('node_modules')) {
      globs.push(`${rel}/{package.json,dist/**/*.js}`) // a workspace package: its build
    } else {
      globs.push(`${rel}/**/{*.js,*.cjs,*.mjs,*.json,*.node,LICENSE*}`)
    }
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>
      optionalDependencies?: Record<string, string>
      peerDependencies?: Record<string, string>
      peerDependenciesMeta?: Record<string, { optional?: boolean }>
    }
    const peers = Object.keys(pkg.peerDependencies ?? {}).filter(
      (p) => !pkg.peerDependenciesMeta?.[p]?.optional,
    )
    for (const dep of [
      ...Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies }),
      ...peers,
    ]) {
      visit(dep, real)
    }
  }
  for (const name of names) visit(name, appDir)
  return globs
}

const config: NextConfig = {
  // Loaded by Node at run time instead of bundled: better-sqlite3 and koffi are
  // native modules, and the s3db packages must share one copy of drizzle-orm and
  // kysely with the app (the app's `sql`/`eq` are handed to the driver's builders).
  serverExternalPackages: [
    'better-sqlite3',
    'koffi',
    '@s3db/core',
    '@s3db/drizzle',
    '@s3db/kysely',
    '@aws-sdk/client-s3',
    'drizzle-orm',
    'kysely',
  ],
  turbopack: { root },
  outputFileTracingRoot: root,
  // `next build` also writes .next/standalone: the server (server.js) with only
  // the files it needs, node_modules included. Copy it anywhere and run it with
  // node, no install step (see README "Deploy").
  output: 'standalone',
  outputFileTracingIncludes: {
    '/*': [
      // Read by path when the server starts, so not traced: the migrations.
      './drizzle/**/*',
      ...runtimePackageFiles(['@s3db/core', '@s3db/drizzle', '@s3db/kysely']),
    ],
  },
  // test/examples/nextjs-standalone.test.ts builds into another folder, so it
  // can run next to the test that builds into .next.
  distDir: process.env.S3DB_NEXT_DIST_DIR ?? '.next',
}

export default config
