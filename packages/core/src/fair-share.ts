/**
 * Sharing the manifest fairly with writers in other processes.
 *
 * Optimistic compare-and-swap is not fair. After a win, a process holds the
 * current manifest and needs 2 round trips for its next commit (changeset PUT,
 * manifest CAS). A process that lost needs 3 or 4 (read the manifest, fetch the
 * winner's changesets, upload again if its changeset changed, CAS), so a winner
 * that commits back to back wins every race and starves the others: in the bench,
 * 3 of 4 processes got one transaction each in 5 seconds. The manifest is the only
 * object every writer reads, and only winners write it, so:
 *
 * - Polite: while commits of other processes keep arriving, wait 1 to 2.5 round
 *   trips before each back-to-back commit, the head start a loser's retry needs.
 *   While co-committing (co-commit.ts) the pause is fixed: a winner waits 1.5
 *   round trips, for the processes its CAS carried to learn it and offer again;
 *   a process carried by another's CAS starts its next round at once.
 * - Look, do not yield blindly: with no sign of others, a writer that has
 *   committed back to back for a while, or commits for the second time in its
 *   life, lists the uploads made on recent manifests (one LIST, in parallel
 *   with its next upload: no round trip added). A process that keeps losing
 *   leaves one there on every attempt. Only when the look finds one does the
 *   writer step aside (3 to 5 round trips, instead of sending its CAS) and
 *   start co-committing. Each look that finds nobody doubles the interval (2
 *   to 128 round trips, and at least 500 ms), so a writer that is really alone
 *   pays a LIST now and then, and no wait. (Before co-commit this was a blind yield of
 *   3 to 5 round trips: 1 commit in 8 to 128 paid it, 7-9 round trips at p99.)
 * - Losers retry at once: a retry already costs 3 round trips, and a loser that
 *   sleeps misses the gap the winner leaves (in the bench, backing off from the
 *   third attempt doubled the p99). Only a long losing streak, a sign of many
 *   contending processes, backs off, to bound the requests they all send.
 *
 * The pause is taken before the next commit, not after this one: a write
 * resolves at once, and writes queued meanwhile group-commit with the next batch.
 *
 * @module
 */

/** Other writers count as active this long after we last took in one of their commits. */
const ACTIVE_WINDOW_MS = 5000
/**
 * A busy streak this long (in round trips, and at least MIN_LOOK_MS) before the
 * first look. Small, so MIN_LOOK_MS decides: round trips measured on a loaded
 * store are long (after 64 processes raced at once, the winner's were 250 ms,
 * and 8 of them let it end the others' co-commit rounds for 2 s)...
 */
const FIRST_STREAK_RTTS = 2
/** ...doubling while nobody else shows up, up to this. */
const MAX_STREAK_RTTS = 128
/** Busy streaks shorter than this never look (a LIST at most this often). */
const MIN_LOOK_MS = 500
/** Lost races retried without pause; later ones back off. */
const FREE_RETRIES = 16

export interface FairShareOptions {
  now?: () => number
  random?: () => number
}

/** The pacing of one process's commits and retries; see the module comment. */
export class FairShare {
  readonly #now: () => number
  readonly #random: () => number
  /** Smoothed duration of a manifest CAS: the store's round trip. */
  #rttMs = 0
  #lastCommitAt = Number.NEGATIVE_INFINITY
  /** Start of the current run of back-to-back commits. */
  #busySince = 0
  #streakRtts = FIRST_STREAK_RTTS
  #yieldedAt = Number.NEGATIVE_INFINITY
  #notBefore = 0
  #look = false
  /** Whether this process has looked yet (its first busy run looks at once). */
  #looked = false
  #casMeasured = false

  constructor(options: FairShareOptions = {}) {
    this.#now = options.now ?? Date.now
    this.#random = options.random ?? Math.random
  }

  /** The store's round trip as measured by our CASes (0 before the first). */
  get rttMs(): number {
    return this.#rttMs
  }

  /**
   * A round trip measured elsewhere (an upload of a small object), used until
   * a CAS of ours has been measured.
   */
  observeRtt(ms: number): void {
    if (this.#casMeasured) return
    this.#rttMs = this.#rttMs === 0 ? ms : 0.8 * this.#rttMs + 0.2 * ms
  }

  /** Call before each commit: how long to wait first (ms). */
  beforeCommit(): number {
    const now = this.#now()
    // Idle for more than a round trip (beyond a pause we chose): a new busy run.
    if (now - Math.max(this.#lastCommitAt, this.#notBefore) > this.#rttMs) this.#busySince = now
    return Math.max(0, this.#notBefore - now)
  }

  /**
   * Records a successful commit whose CAS took `casMs` (undefined when it was
   * not one CAS of ours); `foreignSeenAt` is when this process last took in
   * another process's commit; `coCommit` when it was made while co-committing
   * (co-commit.ts): won by our CAS, or carried in another process's.
   */
  committed(casMs: number | undefined, foreignSeenAt: number, coCommit?: 'won' | 'carried'): void {
    const now = this.#now()
    if (casMs !== undefined) {
      this.#rttMs = this.#casMeasured ? 0.8 * this.#rttMs + 0.2 * casMs : casMs
      this.#casMeasured = true
    }
    const rtt = this.#rttMs
    this.#lastCommitAt = now
    // Someone else got in since our last yield: blind yields start over.
    if (foreignSeenAt > this.#yieldedAt) this.#streakRtts = FIRST_STREAK_RTTS
    if (coCommit === 'carried') {
      // Published in another process's CAS: the next round starts now.
    } else if (coCommit === 'won') {
      // Co-committing: the processes in this CAS learn it a round trip or two
      // later; start the next round with them, not ahead of them.
      this.#notBefore = now + 1.5 * rtt
    } else if (now - foreignSeenAt < ACTIVE_WINDOW_MS) {
      this.#notBefore = now + rtt * (1 + 1.5 * this.#random())
    } else if (
      !this.#looked ||
      now - this.#busySince >= Math.max(MIN_LOOK_MS, this.#streakRtts * rtt)
    ) {
      // Time to look for a process that keeps losing to us (one LIST, in
      // parallel with the next commit's upload); yield only if there is one.
      // A process looks on its second commit first: processes started at once
      // (a deploy, a burst of cold starts) race plain CASes, and the winner's
      // next CAS would end the co-commit round the losers are forming.
      this.#look = true
      this.#looked = true
      this.#busySince = now
      this.#yieldedAt = now
      this.#streakRtts = Math.min(MAX_STREAK_RTTS, this.#streakRtts * 2)
    }
  }

  /** Whether this commit should look for waiting processes (once per look). */
  takeLook(): boolean {
    const look = this.#look
    this.#look = false
    return look
  }

  /** A look found a process waiting: step aside before the next commit. */
  sawWaiting(): void {
    const now = this.#now()
    const rtt = this.#rttMs
    this.#notBefore = Math.max(this.#notBefore, now + rtt * (3 + 2 * this.#random()))
    this.#busySince = this.#notBefore
    this.#streakRtts = FIRST_STREAK_RTTS
  }

  /**
   * How long to wait before retrying after losing race number `attempt` (1-based);
   * `publishMs` is how long that attempt's CAS and the read deciding it took.
   */
  retryDelay(attempt: number, publishMs: number): number {
    if (attempt <= FREE_RETRIES) return 0
    const rtt = this.#rttMs || publishMs / 2
    return this.#random() * Math.min(4 * rtt, rtt * 2 ** (attempt - FREE_RETRIES - 1))
  }
}
