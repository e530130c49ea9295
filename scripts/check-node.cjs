// Fails with a clear message when the running Node.js is older than the `engines`
// field of the root package.json asks (`npm start`, `npm test`, `npm run bench`
// and `npm run soak` run it first). CommonJS, no dependencies: it must run, and
// explain, on the old Node versions it rejects.
'use strict'
const engines = require('../package.json').engines.node
const match = /^>=\s*(\d+)\.(\d+)/.exec(engines)
if (!match) {
  process.stderr.write(`check-node: cannot read the engines field "${engines}"\n`)
  process.exit(1)
}
const [needMajor, needMinor] = [Number(match[1]), Number(match[2])]
const [major, minor] = process.versions.node.split('.').map(Number)
if (major < needMajor || (major === needMajor && minor < needMinor)) {
  const need = `${needMajor}.${needMinor}`
  process.stderr.write(
    `error: s3db needs Node.js ${need} or newer, but this is Node.js ${process.versions.node} (${process.execPath}).\n` +
      'On older versions its native SQLite module (better-sqlite3) crashes with a segmentation fault.\n' +
      `Install Node.js ${need} or newer (https://nodejs.org), or run \`source .ci/node.sh\`, which puts one on PATH.\n`,
  )
  process.exit(1)
}
