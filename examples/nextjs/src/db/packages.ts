/**
 * The s3db packages, imported by Node at run time instead of bundled by Next.
 *
 * Why: Turbopack bundles packages that resolve to a workspace folder (here via
 * the monorepo's node_modules symlinks) even when next.config lists them in
 * serverExternalPackages (vercel/next.js#84388). Bundled, each Next bundle
 * (instrumentation, pages, route handlers) would get its own copy of the
 * engine, and @s3db/drizzle's optional `import('drizzle-kit/api')` would drag
 * drizzle-kit's database drivers into the build. Installed from npm (a real
 * node_modules folder), `serverExternalPackages` alone would do.
 */
import type * as Core from '@s3db/core'
import type * as Drizzle from '@s3db/drizzle'
import type * as Kysely from '@s3db/kysely'

export interface S3dbPackages {
  core: typeof Core
  drizzle: typeof Drizzle
  kysely: typeof Kysely
}

export async function loadS3dbPackages(): Promise<S3dbPackages> {
  const [core, drizzle, kysely] = await Promise.all([
    import(/* webpackIgnore: true */ /* turbopackIgnore: true */ '@s3db/core') as Promise<
      typeof Core
    >,
    import(/* webpackIgnore: true */ /* turbopackIgnore: true */ '@s3db/drizzle') as Promise<
      typeof Drizzle
    >,
    import(/* webpackIgnore: true */ /* turbopackIgnore: true */ '@s3db/kysely') as Promise<
      typeof Kysely
    >,
  ])
  return { core, drizzle, kysely }
}
