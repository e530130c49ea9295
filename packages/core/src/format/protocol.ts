/**
 * Timing rules of the commit protocol that GC relies on.
 *
 * A writer uploads its changeset (or snapshot) under a fresh key, then CASes the
 * manifest to reference it. Until the CAS lands the object is unreferenced and
 * looks like an orphan. Writers never CAS an upload that completed more than
 * PUBLISH_WINDOW_MS ago (they upload again under a new key), and GC never
 * deletes an unreferenced object younger than ORPHAN_MIN_AGE_MS, so an in-flight
 * commit can never reference a deleted object, whatever grace period GC is given.
 *
 * @module
 */

/** Longest time between an upload completing and the CAS that publishes it. */
export const PUBLISH_WINDOW_MS = 60_000

/** GC never deletes an unreferenced object younger than this (twice the window, for clock skew). */
export const ORPHAN_MIN_AGE_MS = 2 * PUBLISH_WINDOW_MS
