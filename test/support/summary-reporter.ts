import type { Reporter, SerializedError, TestModule } from 'vitest/node'

/** The counts of a run: tests by state, plus failures that are not a test's. */
export interface RunSummary {
  passed: number
  failed: number
  skipped: number
  /** Test files that failed outside their tests: import, syntax or hook errors. */
  brokenFiles: string[]
  unhandledErrors: number
}

/**
 * Counts a run. A test file that fails to load, or whose `beforeAll`/`afterAll`
 * fails, has no failed test of its own; it counts as one failure, as does each
 * unhandled error, so the closing line never says "0 failed" for a failed run.
 */
export function summarize(
  testModules: ReadonlyArray<TestModule>,
  unhandledErrors: ReadonlyArray<SerializedError> = [],
): RunSummary {
  const summary: RunSummary = {
    passed: 0,
    failed: 0,
    skipped: 0,
    brokenFiles: [],
    unhandledErrors: unhandledErrors.length,
  }
  for (const mod of testModules) {
    let failedTests = 0
    for (const test of mod.children.allTests()) {
      const state = test.result().state
      if (state === 'passed') summary.passed++
      else if (state === 'failed') failedTests++
      else summary.skipped++
    }
    summary.failed += failedTests
    if (failedTests === 0 && (mod.state() === 'failed' || mod.errors().length > 0)) {
      summary.brokenFiles.push(mod.relativeModuleId)
      summary.failed++
    }
  }
  summary.failed += unhandledErrors.length
  return summary
}

/**
 * Prints one plain closing line, "tests: N passed, N failed, N skipped", after the
 * default reporter's output, so CI logs state the counts in a stable form. Test
 * files that failed outside their tests and unhandled errors are named above it
 * and counted as failures.
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(
    testModules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
  ): void {
    const s = summarize(testModules, unhandledErrors)
    let out = '\n'
    for (const file of s.brokenFiles)
      out += `failed outside its tests (load or hook error): ${file}\n`
    if (s.unhandledErrors > 0) out += `unhandled errors: ${s.unhandledErrors}\n`
    out += `tests: ${s.passed} passed, ${s.failed} failed, ${s.skipped} skipped\n`
    process.stdout.write(out)
  }
}
