#!/usr/bin/env node
// Check the Node version before loading anything: on an older Node the native
// SQLite module can crash the process instead of failing with a message.
const [major = 0, minor = 0] = process.versions.node.split('.').map(Number)
if (major < 22 || (major === 22 && minor < 12)) {
  process.stderr.write(
    `s3db: error: Node ${process.versions.node} is too old\nhint: s3db needs Node 22.12 or newer (see https://nodejs.org)\n`,
  )
  process.exit(1)
}

const { main } = await import('./main.js')

// First Ctrl-C cancels the running operation cleanly (exit 130); a second one kills.
const controller = new AbortController()
process.once('SIGINT', () => {
  controller.abort(new Error('interrupted'))
  process.once('SIGINT', () => process.exit(130))
})

process.exitCode = await main(process.argv.slice(2), { signal: controller.signal })
