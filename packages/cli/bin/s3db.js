#!/usr/bin/env node
// The `s3db` command. This file is committed, not built, so that `npm ci` in a
// fresh clone links the command (node_modules/.bin/s3db) before anything is built;
// the command itself is the compiled dist/bin.js.
import { existsSync } from 'node:fs'

const bin = new URL('../dist/bin.js', import.meta.url)
if (!existsSync(bin)) {
  process.stderr.write(
    's3db: error: the CLI is not built (dist/bin.js is missing)\nhint: run `npm run build` at the repository root, then run the command again\n',
  )
  process.exit(1)
}
await import(bin.href)
