/**
 * Apply on diverged targets: the same changeset applied by SQLite's
 * sqlite3changeset_apply (wasm) and by ours to a database that drifted from the
 * changeset's origin must report the same conflicts (kind, table, op) in the same
 * order, under the same policy, end the same way and leave identical databases.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { Action } from './engines.js'
import { BetterEngine } from './engines.js'
import { checkDivergent, type Stmt } from './harness.js'
import { genScenario, genStatements, show, showStatements } from './workload.js'

const RUNS = Number(process.env.S3DB_PROPERTY_RUNS ?? 1000)
const seed = process.env.S3DB_PROPERTY_SEED ? Number(process.env.S3DB_PROPERTY_SEED) : undefined

const ACTIONS: Record<string, readonly Action[]> = {
  DATA: ['omit', 'replace', 'abort'],
  NOTFOUND: ['omit', 'omit', 'abort', 'replace'],
  CONFLICT: ['omit', 'replace', 'abort'],
  CONSTRAINT: ['omit', 'omit', 'abort'],
  FOREIGN_KEY: ['omit', 'abort'],
}

describe('apply matches sqlite3changeset_apply on diverged databases', () => {
  it.each([
    ['random schemas', false],
    ['schemas with foreign keys', true],
  ])(
    `%s: random changesets and drifts (${RUNS} cases)`,
    async (_name, foreignKeys) => {
      const stats = {
        cases: 0,
        skipped: 0,
        conflicts: 0,
        kinds: {} as Record<string, number>,
        outcomes: {} as Record<string, number>,
      }
      await fc.assert(
        fc.asyncProperty(fc.gen(), async (g) => {
          const s = genScenario(g, { foreignKeys })
          // The changeset: the workload's, captured by us from the scenario's start.
          const src = new BetterEngine()
          let bytes: Uint8Array | null
          try {
            src.exec(s.schema)
            if (s.triggers) src.exec(s.triggers)
            for (const st of s.setup ?? []) src.run(st.sql, st.params)
            const capture = src.startCapture()
            src.exec('BEGIN')
            capture.reset()
            for (const st of s.work) src.run(st.sql, st.params)
            bytes = capture.changeset()
            src.exec('COMMIT')
          } finally {
            src.close()
          }
          if (bytes === null) return
          const drift: Stmt[] = genStatements(g, s.tables, 1, 6)
          if (foreignKeys && g(fc.boolean))
            drift.unshift({ sql: `DELETE FROM "t0" WHERE rowid % 2 = ${g(fc.nat, { max: 1 })}` })
          const policy: Record<string, Action> = {}
          for (const [kind, options] of Object.entries(ACTIONS))
            policy[kind] = options[g(fc.nat, { max: options.length - 1 })]!
          try {
            const r = await checkDivergent(s, drift, bytes, (kind) => policy[kind] ?? 'abort')
            if (r.skipped) {
              stats.skipped++
              return
            }
            stats.cases++
            stats.conflicts += r.conflicts.length
            for (const c of r.conflicts) {
              const k = c.split(':')[0]!
              stats.kinds[k] = (stats.kinds[k] ?? 0) + 1
            }
            stats.outcomes[r.outcome] = (stats.outcomes[r.outcome] ?? 0) + 1
          } catch (e) {
            const driftText = showStatements(drift)
            throw new Error(
              `${(e as Error).message}\n--- scenario ---\n${show(s)}\n-- drift\n${driftText}\n-- policy ${JSON.stringify(policy)}`,
              { cause: e },
            )
          }
        }),
        { numRuns: RUNS, seed },
      )
      console.log(`apply property: ${JSON.stringify(stats)}`)
      // The generator must actually produce every kind of conflict.
      const kinds = foreignKeys
        ? ['DATA', 'NOTFOUND', 'CONFLICT', 'FOREIGN_KEY']
        : ['DATA', 'NOTFOUND', 'CONFLICT', 'CONSTRAINT']
      for (const kind of kinds) expect(stats.kinds[kind] ?? 0).toBeGreaterThan(0)
    },
    60_000 + RUNS * 40,
  )
})
