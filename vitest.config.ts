import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

const src = (p: string) => fileURLToPath(new URL(p, import.meta.url))

// Tests import the packages' sources directly (no build needed for in-process tests);
// tests that spawn OS processes run the built dist/ (npm test builds first).
export default defineConfig({
  resolve: {
    alias: [
      { find: /^@s3db\/core\/internal$/, replacement: src('./packages/core/src/internal.ts') },
      { find: /^@s3db\/core$/, replacement: src('./packages/core/src/index.ts') },
      { find: /^@s3db\/kysely$/, replacement: src('./packages/kysely-dialect/src/index.ts') },
      { find: /^@s3db\/drizzle$/, replacement: src('./packages/drizzle-driver/src/index.ts') },
    ],
  },
  test: {
    include: ['packages/*/test/**/*.test.ts', 'test/**/*.test.ts'],
    globalSetup: ['./test/support/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Memory-bound tests call gc() so they measure retained memory, not garbage.
    execArgv: ['--expose-gc'],
    reporters: ['default', './test/support/summary-reporter.ts'],
  },
})
