/**
 * Every error a caller saw is typed (an S3dbError with a known code, or the
 * error the operation was built to provoke), and its code matches what
 * happened: Aborted only after the caller aborted, a landed write is never
 * reported as a plain failure (that part is enforced by the exactly-once and
 * list-append checkers, which treat every failure as "never applied").
 */
import { type History, segmentsSeen, type Violation } from '../history.ts'

const CODES = new Set([
  'NotFound',
  'PreconditionFailed',
  'InvalidArgument',
  'StoreUnavailable',
  'AccessDenied',
  'BucketNotFound',
  'Aborted',
  'WriteConflict',
  'CommitIndeterminate',
  'SchemaTooNew',
  'FormatTooNew',
  'Corrupt',
  'NoPrimaryKey',
  'ApplyConflict',
  'LocalCacheLocked',
  'SeqMismatch',
  'AlreadyExists',
  'Closed',
  'ReentrantTransaction',
  'ReadOnly',
  'MigrationFailed',
  'LocalReplicaFailed',
])

export function checkErrors(h: History): Violation[] {
  const out: Violation[] = []
  for (const o of h.ops) {
    const e = o.error
    if (!e) continue
    const v = (message: string) =>
      out.push({
        checker: 'errors',
        message: `op ${o.id} (${o.kind}) ${message}: ${e.name}${e.code ? ` [${e.code}]` : ''}: ${e.message}`,
        ops: [o.id],
      })
    if (e.name === 'SimCallbackError') {
      if (o.expects !== 'callback') v('saw a callback error it did not throw')
      continue
    }
    if (o.expects === 'fk' && /FOREIGN KEY/.test(e.message) && e.code === undefined) continue
    if (e.code === undefined || !CODES.has(e.code)) {
      // Tables are legitimately missing after the operator deleted the database
      // (in the segment the op started in, one it was in flight into, or one a
      // bounded-stale read may still have seen).
      if (segmentsSeen(h, o).some((s) => s.recreated) && /no such table/.test(e.message)) continue
      v('saw an untyped error')
      continue
    }
    if (e.code === 'Aborted' && !o.aborted) v('saw Aborted although it never aborted')
  }
  return out
}
