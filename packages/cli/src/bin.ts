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

// `sql` and `shell` run statements in an engine process (so that Ctrl-C can stop
// them): start it now, so it loads while this process does.
const command = process.argv[2]
if ((command === 'sql' || command === 'shell') && !process.argv.includes('--help')) {
  const { prestartEngine } = await import('./engine/spawn.js')
  prestartEngine(process.env)
}

const { main } = await import('./main.js')
const { Interrupts } = await import('./interrupts.js')

// Ctrl-C stops the running command (exit 130, one line saying what was written);
// a second one, while it still winds down, ends the process at once.
const interrupts = new Interrupts()
process.on('SIGINT', () => {
  if (interrupts.interrupt() === 'now') {
    process.stderr.write(`s3db: ${interrupts.describe()}\n`)
    process.exit(130)
  }
})

process.exitCode = await main(process.argv.slice(2), { interrupts })
