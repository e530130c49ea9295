/**
 * Second oracle: node:sqlite's sessions (Node's bundled SQLite) must agree with our
 * capture, and node:sqlite's applyChangeset must reproduce our result from our bytes.
 */

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeChangeset } from '../../src/changeset/index.js'
import { BetterEngine, NodeEngine } from './engines.js'
import { normalize, type Scenario } from './harness.js'
import { genScenario, show } from './workload.js'

const RUNS = Math.max(50, Math.floor(Number(process.env.S3DB_PROPERTY_RUNS ?? 1000) / 2))
const seed = process.env.S3DB_PROPERTY_SEED ? Number(process.env.S3DB_PROPERTY_SEED) : undefined

function prepare<E extends BetterEngine | NodeEngine>(e: E, s: Scenario): E {
  e.exec(s.schema)
  if (s.triggers) e.exec(s.triggers)
  e.exec('PRAGMA recursive_triggers = ON')
  for (const st of s.setup ?? []) e.run(st.sql, st.params)
  return e
}

/** Whether node:sqlite applies `bytes` onto the scenario's starting state without a conflict. */
function applies(s: Scenario, bytes: Uint8Array): boolean {
  const target = prepare(new NodeEngine(), s)
  try {
    for (const name of target.db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
      .all()) {
      target.exec(`DROP TRIGGER "${String((name as { name: string }).name).replaceAll('"', '""')}"`)
    }
    target.exec('PRAGMA foreign_keys = OFF')
    const r = target.apply(bytes, () => 'abort')
    return r.ok && r.conflicts.length === 0
  } finally {
    target.close()
  }
}

describe('capture matches node:sqlite sessions', () => {
  it(
    `random schemas and workloads (${RUNS} cases)`,
    async () => {
      const stats = { compared: 0, engineDiff: 0, snapshot: 0 }
      await fc.assert(
        fc.asyncProperty(fc.gen(), async (g) => {
          const s = genScenario(g)
          const ours = prepare(new BetterEngine(), s)
          const theirs = prepare(new NodeEngine(), s)
          const engines: (BetterEngine | NodeEngine)[] = [ours, theirs]
          try {
            const capture = ours.startCapture()
            ours.exec('BEGIN')
            const outcomes = s.work.map((st) => ours.run(st.sql, st.params).ok)
            const bytes = capture.changeset()
            ours.exec('COMMIT')
            theirs.startSession()
            theirs.exec('BEGIN')
            const theirOutcomes = s.work.map((st) => theirs.run(st.sql, st.params).ok)
            theirs.exec('COMMIT')
            const theirBytes = theirs.sessionChangeset()
            if (
              JSON.stringify(outcomes) !== JSON.stringify(theirOutcomes) ||
              ours.dump() !== theirs.dump()
            ) {
              stats.engineDiff++ // SQLite versions disagree on the workload itself
              return
            }
            stats.compared++
            expect(normalize(decodeChangeset(bytes ?? new Uint8Array()))).toEqual(
              normalize(decodeChangeset(theirBytes)),
            )
            if (capture.incomplete) {
              // A move no changeset can express (a key changed only in type):
              // the engine publishes a snapshot. SQLite's own changeset of it
              // does not apply either, which is why.
              stats.snapshot++
              expect(applies(s, theirBytes)).toBe(false)
            } else if (bytes !== null) {
              // node:sqlite applies ours onto the starting state (then without triggers,
              // whose effects the changeset holds, and with FK actions off).
              const target = prepare(new NodeEngine(), s)
              engines.push(target)
              for (const name of target.db
                .prepare("SELECT name FROM sqlite_schema WHERE type = 'trigger'")
                .all()) {
                target.exec(
                  `DROP TRIGGER "${String((name as { name: string }).name).replaceAll('"', '""')}"`,
                )
              }
              target.exec('PRAGMA foreign_keys = OFF')
              const r = target.apply(bytes, () => 'abort')
              expect(r.conflicts).toEqual([])
              expect(r.ok).toBe(true)
              expect(target.dump(true)).toEqual(ours.dump(true))
            }
          } catch (e) {
            throw new Error(`${(e as Error).message}\n--- scenario ---\n${show(s)}`, { cause: e })
          } finally {
            for (const e of engines) e.close()
          }
        }),
        { numRuns: RUNS, seed },
      )
      console.log(`node:sqlite oracle: ${JSON.stringify(stats)}`)
      expect(stats.compared).toBeGreaterThan(RUNS * 0.9)
    },
    60_000 + RUNS * 40,
  )
})
