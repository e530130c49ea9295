import { fileURLToPath } from 'node:url'
import type { NextConfig } from 'next'

// The monorepo root: dependencies are hoisted to its node_modules.
const root = fileURLToPath(new URL('../..', import.meta.url))

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
}

export default config
