/**
 * Builds a deployable AWS Lambda zip of `handler.ts` for one architecture:
 *
 *   node package.ts --arch x64|arm64 [--out dist] [--no-bundle] [--json]
 *
 * The zip holds exactly:
 * - `handler.mjs`: the handler, ESM (Lambda handler setting `handler.handler`).
 *   By default esbuild bundles it with all of its JavaScript dependencies
 *   (`@s3db/core`, the AWS SDK, ulid) into one minified file; `--no-bundle`
 *   bundles only this example's own files and installs `@s3db/core` (packed from
 *   the workspace) and its dependencies into `node_modules/` instead, to compare.
 * - `node_modules/better-sqlite3` and `node_modules/koffi` (+ its
 *   `@koromix/koffi-linux-<arch>` binary package): the two native modules, which
 *   cannot be bundled. They are installed from the npm registry with
 *   `npm install --os=linux --cpu=<arch> --libc=glibc`, so they are the registry's
 *   prebuilt binaries for Lambda's platform, whatever machine builds the zip.
 *   better-sqlite3 ships the binaries of every platform inside its own npm
 *   tarball (`prebuilds/<platform>-<arch>.node`, no download at install time);
 *   koffi ships one optional package per platform.
 * Everything a running function does not load is pruned: C/C++ sources, headers,
 * docs, type declarations, and the `.node` binaries of other platforms and of musl.
 *
 * Run `npm run build` at the repository root first (the bundle reads
 * `packages/core/dist`). Prints the zip's path and size (`--json`: a summary line).
 *
 * @module
 */
import { execFileSync } from 'node:child_process'
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { build } from 'esbuild'

const HERE = import.meta.dirname
const ROOT = resolve(HERE, '../..')

/** Lambda's architectures, by Node's `process.arch` name. */
export const ARCHES = ['x64', 'arm64'] as const
export type Arch = (typeof ARCHES)[number]

/** The modules with native binaries: left out of the bundle, installed per platform. */
export const NATIVE_MODULES = ['better-sqlite3', 'koffi'] as const

export interface PackageResult {
  arch: Arch
  bundled: boolean
  zip: string
  zipBytes: number
  /** Bytes once unpacked (what counts against Lambda's 250 MB limit). */
  unpackedBytes: number
  files: number
  nodeFiles: string[]
}

/** The exact versions of the native modules the workspace locks (and tests with). */
function nativeVersions(): Record<string, string> {
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { version?: string }>
  }
  const out: Record<string, string> = {}
  for (const name of NATIVE_MODULES) {
    const version = lock.packages[`node_modules/${name}`]?.version
    if (!version) throw new Error(`package-lock.json has no node_modules/${name}; run npm ci`)
    out[name] = version
  }
  return out
}

/** npm without the variables `npm run` sets (they would point it at the workspace). */
function npm(args: string[], cwd: string): void {
  const env: NodeJS.ProcessEnv = {}
  const keep = /^npm_config_(cache|userconfig|globalconfig|registry)$/i
  for (const [k, v] of Object.entries(process.env)) {
    if (/^npm_/i.test(k) && !keep.test(k)) continue
    if (k === 'INIT_CWD') continue
    env[k] = v
  }
  execFileSync('npm', args, { cwd, env, stdio: ['ignore', 'pipe', 'inherit'] })
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) yield* walk(path)
    else yield path
  }
}

function removeEmptyDirs(dir: string): boolean {
  let empty = true
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    if (entry.isDirectory() && removeEmptyDirs(path)) rmSync(path, { recursive: true })
    else empty = false
  }
  return empty
}

/**
 * Removes from `node_modules` what a function never loads: sources, headers,
 * build files, docs, declarations, source maps, and native binaries built for
 * anything but glibc Linux on `arch`.
 */
function prune(nodeModules: string, arch: Arch): void {
  // Build-time only: better-sqlite3's C++ headers dependency and koffi's vendored headers.
  rmSync(join(nodeModules, 'node-addon-api'), { recursive: true, force: true })
  rmSync(join(nodeModules, '.package-lock.json'), { force: true })
  for (const dir of ['better-sqlite3/deps', 'better-sqlite3/src', 'koffi/vendor', 'koffi/doc']) {
    rmSync(join(nodeModules, dir), { recursive: true, force: true })
  }
  const runtime = /\.(c?js|mjs|json|node)$|(^|\/)LICEN[CS]E[^/]*$/i
  const dropped = /\.d\.[cm]?ts$|\.map$|(^|\/)(README|CHANGELOG)[^/]*$|\/cnoke\.cjs$/i
  const betterSqliteKeep = `better-sqlite3/prebuilds/linux-${arch}.node`
  const koffiKeep = `@koromix/koffi-linux-${arch}/linux_${arch}/koffi.node`
  for (const file of walk(nodeModules)) {
    const rel = relative(nodeModules, file).split('\\').join('/')
    let keep = runtime.test(rel) && !dropped.test(rel)
    if (rel.endsWith('.node')) keep = rel === betterSqliteKeep || rel === koffiKeep
    if (!keep) rmSync(file)
  }
  removeEmptyDirs(nodeModules)
}

/** Builds the zip; returns what it holds. */
export async function packageLambda(options: {
  arch: Arch
  outDir: string
  bundle?: boolean
}): Promise<PackageResult> {
  const { arch } = options
  const bundled = options.bundle ?? true
  const stage = mkdtempSync(join(tmpdir(), `s3db-lambda-${arch}-`))
  try {
    const native = nativeVersions()
    const dependencies: Record<string, string> = { ...native }
    if (!bundled) {
      // @s3db/core as a user installs it: its npm tarball (dist/ already built).
      npm(
        ['pack', '--ignore-scripts', '--silent', '--pack-destination', stage],
        join(ROOT, 'packages/core'),
      )
      const tarball = readdirSync(stage).find((f) => f.endsWith('.tgz'))!
      dependencies['@s3db/core'] = `file:./${tarball}`
    }
    writeFileSync(
      join(stage, 'package.json'),
      `${JSON.stringify({ name: 's3db-lambda', private: true, type: 'module', dependencies }, null, 2)}\n`,
    )
    // The target platform's prebuilt binaries from the registry, not this machine's;
    // no install scripts (nothing is compiled), no lockfile in the zip.
    npm(
      [
        'install',
        `--os=linux`,
        `--cpu=${arch}`,
        '--libc=glibc',
        '--omit=dev',
        '--ignore-scripts',
        '--no-package-lock',
        '--no-audit',
        '--no-fund',
        '--prefer-offline',
        '--install-links',
      ],
      stage,
    )
    for (const f of readdirSync(stage)) if (f.endsWith('.tgz')) rmSync(join(stage, f))
    rmSync(join(stage, 'package.json'))

    await build({
      entryPoints: [join(HERE, 'handler.ts')],
      outfile: join(stage, 'handler.mjs'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node22',
      // The AWS SDK's ESM builds tree-shake better than its CommonJS ones.
      mainFields: ['module', 'main'],
      minify: bundled,
      legalComments: bundled ? 'eof' : 'inline',
      ...(bundled ? { external: [...NATIVE_MODULES] } : { packages: 'external' as const }),
      // Bundled CommonJS code calls require(); give the ESM bundle one.
      banner: {
        js: "import { createRequire as __s3dbCreateRequire } from 'node:module';const require = __s3dbCreateRequire(import.meta.url);",
      },
      logLevel: 'warning',
    })
    prune(join(stage, 'node_modules'), arch)

    mkdirSync(options.outDir, { recursive: true })
    const zip = resolve(options.outDir, `s3db-lambda-${arch}${bundled ? '' : '-unbundled'}.zip`)
    rmSync(zip, { force: true })
    // -X: no extra file attributes; entries sorted for a reproducible listing.
    const entries = [...walk(stage)].map((f) => relative(stage, f)).sort()
    execFileSync('zip', ['-q', '-X', '-9', zip, '-@'], { cwd: stage, input: entries.join('\n') })
    return {
      arch,
      bundled,
      zip,
      zipBytes: statSync(zip).size,
      unpackedBytes: entries.reduce((sum, f) => sum + statSync(join(stage, f)).size, 0),
      files: entries.length,
      nodeFiles: entries.filter((f) => f.endsWith('.node')),
    }
  } finally {
    rmSync(stage, { recursive: true, force: true })
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      arch: { type: 'string' },
      out: { type: 'string', default: join(HERE, 'dist') },
      'no-bundle': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
  })
  const arch = values.arch as Arch
  if (!ARCHES.includes(arch)) {
    console.error(`--arch must be one of ${ARCHES.join(', ')}, got ${values.arch ?? 'nothing'}`)
    process.exit(2)
  }
  const result = await packageLambda({ arch, outDir: values.out!, bundle: !values['no-bundle'] })
  if (values.json) console.log(JSON.stringify(result))
  else {
    const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`
    console.log(`${result.zip}
  ${mb(result.zipBytes)} zipped, ${mb(result.unpackedBytes)} unpacked, ${result.files} files
  native binaries: ${result.nodeFiles.join(', ')}`)
  }
}
