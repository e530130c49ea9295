#!/usr/bin/env node
import { main } from './main.js'

// First Ctrl-C cancels the running operation cleanly (exit 130); a second one kills.
const controller = new AbortController()
process.once('SIGINT', () => {
  controller.abort(new Error('interrupted'))
  process.once('SIGINT', () => process.exit(130))
})

process.exitCode = await main(process.argv.slice(2), { signal: controller.signal })
