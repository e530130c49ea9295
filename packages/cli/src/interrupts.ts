/**
 * Ctrl-C. The first one stops the command: exit 130 and one line saying
 * what was (not) written. A command can take the interrupts itself (`sql` and
 * `shell` stop a running statement; the shell then goes on); otherwise the
 * first one aborts the command's AbortSignal and a second one ends the process
 * at once.
 *
 * What the line may claim comes from {@link StoreActivity}: the store wrapper
 * of every command records whether it started writing objects and whether a
 * manifest write (the only write that changes a database) is in flight,
 * landed, or failed in a way that leaves the outcome open.
 *
 * @module
 */

/** What a command did to the store so far. */
export interface StoreActivity {
  /** The database's display name, for messages. */
  target: string
  /** An object write or delete started (snapshots, changesets, gc, doctor's scratch keys). */
  touched: boolean
  /** Manifest writes in flight. */
  publishing: number
  /** A manifest write succeeded: the database changed. */
  published: boolean
  /** A manifest write failed in a way that may still have applied. */
  uncertain: boolean
}

export function newActivity(target: string): StoreActivity {
  return { target, touched: false, publishing: 0, published: false, uncertain: false }
}

/** Printed when Ctrl-C came while a write was on the wire, and that write completed. */
export const LATE_INTERRUPT_NOTE =
  'note: the interrupt came while the write was being published; it completed\n'

/** An interrupted command: exit 130 with `message` as its one line. */
export class InterruptedError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'InterruptedError'
  }
}

/** The one line for a command interrupted with `activity` behind it. */
export function interruptedLine(activity: StoreActivity | undefined): string {
  if (!activity) return 'interrupted: nothing was written'
  const { target } = activity
  if (activity.publishing > 0 || activity.uncertain) {
    return `interrupted while publishing to ${target}: whether it changed is unknown; check with \`s3db status ${target}\``
  }
  if (activity.published) {
    return `interrupted, but ${target} had already been changed; check with \`s3db status ${target}\``
  }
  return activity.touched
    ? `interrupted: nothing was published; ${target} is unchanged`
    : 'interrupted: nothing was written'
}

/** Routes Ctrl-C to whoever handles it now. */
export class Interrupts {
  readonly #controller = new AbortController()
  #handler: (() => void) | undefined
  #count = 0
  #activities: StoreActivity[] = []

  /** Aborted at the first Ctrl-C that no handler took. */
  get signal(): AbortSignal {
    return this.#controller.signal
  }

  /** How many Ctrl-C arrived. */
  get count(): number {
    return this.#count
  }

  /** Sends Ctrl-C to `handler` (instead of aborting {@link signal}) until the returned function runs. */
  take(handler: () => void): () => void {
    const previous = this.#handler
    this.#handler = handler
    return () => {
      this.#handler = previous
    }
  }

  /** Records the store activity of a command, for {@link describe}. */
  track(activity: StoreActivity): StoreActivity {
    this.#activities.push(activity)
    return activity
  }

  /** A manifest write of this command succeeded: it changed a database. */
  get published(): boolean {
    return this.#activities.some((a) => a.published)
  }

  /** The line for an interrupt now: about the store the command touched. */
  describe(): string {
    const active = this.#activities.find((a) => a.publishing > 0 || a.uncertain)
    return interruptedLine(active ?? this.#activities.at(-1))
  }

  /**
   * One Ctrl-C. Returns 'now' when the process should end at once (a second
   * Ctrl-C while the command still winds down); the caller prints
   * {@link describe} and exits 130.
   */
  interrupt(): 'handled' | 'now' {
    this.#count++
    if (this.#handler) {
      this.#handler()
      return 'handled'
    }
    if (this.#controller.signal.aborted) return 'now'
    this.#controller.abort(new InterruptedError('interrupted'))
    return 'handled'
  }
}
