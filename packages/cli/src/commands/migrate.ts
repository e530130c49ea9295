import { stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { S3db } from '@s3db/core'
import type { CommandSpec } from '../command.js'
import { openDatabase, resolveTarget } from '../database.js'
import { CliError, UsageError } from '../errors.js'
import { JSON_OPTION, report } from '../print.js'

/** What the CLI needs from an ORM package: apply a folder's migrations in one update. */
interface Migrator {
  orm: 'drizzle' | 'kysely'
  /** Applies pending migrations; returns the names of those applied. */
  apply(db: S3db, dir: string, signal: AbortSignal): Promise<string[]>
}

type Module = Record<string, unknown>

/**
 * Loads an ORM package at run time. The specifier is a variable so that the CLI
 * builds, type-checks and installs without the ORM packages.
 */
async function load(pkg: string, peer: string): Promise<Module> {
  try {
    return (await import(pkg)) as Module
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') {
      throw new CliError(
        `cannot load ${pkg}: ${(err as Error).message.split('\n')[0]}`,
        `install it next to @s3db/cli: npm install ${pkg} ${peer}`,
      )
    }
    throw err
  }
}

function missingExport(pkg: string, name: string): CliError {
  return new CliError(
    `${pkg} does not provide ${name}(), which \`s3db migrate\` needs`,
    `upgrade ${pkg} to a version with ${name}(), or run your migrations from your app`,
  )
}

/** Names of the applied migrations: drizzle's `{ applied }`, Kysely's MigrationResult[]. */
function appliedNames(result: unknown): string[] {
  const r = result as
    | {
        applied?: { tag?: string; name?: string }[]
        results?: { migrationName?: string; status?: string }[]
      }
    | undefined
  if (Array.isArray(r?.applied)) return r.applied.map((m) => m.tag ?? m.name ?? '?')
  if (Array.isArray(r?.results)) {
    return r.results.filter((m) => m.status === 'Success').map((m) => m.migrationName ?? '?')
  }
  return []
}

async function drizzleMigrator(): Promise<Migrator> {
  const pkg = '@s3db/drizzle'
  const mod = await load(pkg, 'drizzle-orm')
  const { drizzle, migrate } = mod as {
    drizzle?: (db: S3db) => unknown
    migrate?: (db: unknown, config: { migrationsFolder: string; signal?: AbortSignal }) => unknown
  }
  if (typeof drizzle !== 'function') throw missingExport(pkg, 'drizzle')
  if (typeof migrate !== 'function') throw missingExport(pkg, 'migrate')
  return {
    orm: 'drizzle',
    async apply(db, dir, signal) {
      return appliedNames(await migrate(drizzle(db), { migrationsFolder: dir, signal }))
    },
  }
}

async function kyselyMigrator(): Promise<Migrator> {
  const pkg = '@s3db/kysely'
  const mod = await load(pkg, 'kysely')
  const { S3dbKysely, migrateToLatest } = mod as {
    S3dbKysely?: new (config: { s3db: S3db }) => unknown
    migrateToLatest?: (
      db: unknown,
      provider: unknown,
      options: { signal?: AbortSignal },
    ) => Promise<unknown>
  }
  if (typeof S3dbKysely !== 'function') throw missingExport(pkg, 'S3dbKysely')
  if (typeof migrateToLatest !== 'function') throw missingExport(pkg, 'migrateToLatest')
  // Kysely's own provider imports every module in the folder (.js, .mjs, .ts on Node 24).
  // Kysely 0.29 moved it to 'kysely/migration'; 0.28 exports it from 'kysely'.
  const migration = await load('kysely/migration', 'kysely').catch(() => load('kysely', 'kysely'))
  const { FileMigrationProvider } = migration as {
    FileMigrationProvider?: new (props: {
      fs: unknown
      path: unknown
      migrationFolder: string
    }) => unknown
  }
  if (typeof FileMigrationProvider !== 'function') {
    throw missingExport('kysely', 'FileMigrationProvider')
  }
  const fs = await import('node:fs/promises')
  const path = await import('node:path')
  return {
    orm: 'kysely',
    async apply(db, dir, signal) {
      const provider = new FileMigrationProvider({ fs, path, migrationFolder: dir })
      const results = await migrateToLatest(new S3dbKysely({ s3db: db }), provider, { signal })
      return appliedNames({ results })
    },
  }
}

async function isDirectory(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isDirectory(),
    () => false,
  )
}

export const migrate: CommandSpec = {
  name: 'migrate',
  summary: 'Apply ORM migrations (Drizzle or Kysely) to the database.',
  usage: 'migrate <target> --drizzle DIR | --kysely DIR',
  details: `Runs the ORM's migrator inside ONE s3db update, so concurrent deploys apply each
migration exactly once. Needs @s3db/drizzle (with drizzle-orm) or @s3db/kysely (with
kysely) installed next to @s3db/cli.

  --drizzle DIR   a drizzle-kit migrations folder (with meta/_journal.json)
  --kysely DIR    a folder of Kysely migration modules (export up/down), loaded with
                  Kysely's FileMigrationProvider (.js/.mjs; .ts on Node 24)

Example:
  s3db migrate s3://my-bucket/mydb/ --drizzle ./drizzle`,
  options: {
    drizzle: { type: 'string', value: 'DIR', description: 'drizzle-kit migrations folder' },
    kysely: { type: 'string', value: 'DIR', description: 'Kysely migrations folder' },
    ...JSON_OPTION,
  },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const drizzleDir = ctx.values.drizzle as string | undefined
    const kyselyDir = ctx.values.kysely as string | undefined
    if ((drizzleDir === undefined) === (kyselyDir === undefined)) {
      throw new UsageError('give exactly one of --drizzle DIR or --kysely DIR', 'migrate')
    }
    const dir = resolve((drizzleDir ?? kyselyDir)!)
    if (!(await isDirectory(dir))) {
      throw new UsageError(
        `migrations folder ${dir} does not exist or is not a directory`,
        'migrate',
      )
    }
    if (
      drizzleDir !== undefined &&
      !(await stat(join(dir, 'meta', '_journal.json')).catch(() => undefined))
    ) {
      throw new UsageError(
        `${dir} is not a drizzle-kit migrations folder (no meta/_journal.json): pass the folder \`drizzle-kit generate\` writes`,
        'migrate',
      )
    }
    const r = await resolveTarget(ctx)
    // Load the ORM before opening: a missing package should fail before any download.
    const migrator = drizzleDir !== undefined ? await drizzleMigrator() : await kyselyMigrator()
    const db = await openDatabase(r, { signal: ctx.signal })
    try {
      const before = db.stats().seq
      const applied = await migrator.apply(db, dir, ctx.signal)
      const seq = db.stats().seq
      const lines =
        applied.length === 0
          ? [`${r.target.display} is up to date: no pending ${migrator.orm} migrations`]
          : [
              `applied ${applied.length} ${migrator.orm} migration${applied.length === 1 ? '' : 's'} to ${r.target.display} (seq ${before} -> ${seq}):`,
              ...applied.map((name) => `  ${name}`),
            ]
      report(ctx, lines.join('\n'), { target: r.target.display, orm: migrator.orm, applied, seq })
      return 0
    } finally {
      await db.close()
    }
  },
}
