import { monotonicFactory } from 'ulid'

const next = monotonicFactory()

/** A new unique, time-sortable object id (ULID): object keys are never reused. */
export function newId(): string {
  return next()
}
