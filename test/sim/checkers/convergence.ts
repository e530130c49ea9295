/**
 * Replica convergence: every live replica, every reopened localPath and a
 * fresh rebuild equal a plain-SQLite replay of the committed log, table by
 * table.
 */
import type { Violation } from '../history.ts'
import { type Dump, diffDumps, type Replayed } from '../replay.ts'

export interface ReplicaState {
  /** What was dumped: "live c1", "reopened c2 (path 1)", "fresh rebuild". */
  name: string
  dump?: Dump | undefined
  error?: string | undefined
}

export function checkConvergence(oracle: Replayed, replicas: ReplicaState[]): Violation[] {
  if (!oracle.ok)
    return [
      {
        checker: 'convergence',
        message: `the committed log cannot be replayed with plain SQLite: ${oracle.error}`,
        ops: [],
      },
    ]
  const out: Violation[] = []
  for (const r of replicas) {
    if (!r.dump) {
      out.push({
        checker: 'convergence',
        message: `${r.name} could not be read at the end: ${r.error}`,
        ops: [],
      })
      continue
    }
    const diff = diffDumps(oracle.dump, r.dump)
    if (diff.length > 0)
      out.push({
        checker: 'convergence',
        message: `${r.name} differs from the replayed log at seq ${oracle.seq}: ${diff.join('; ')}`,
        ops: [],
      })
  }
  return out
}
