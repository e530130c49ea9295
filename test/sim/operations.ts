/**
 * The operations a seed mixes, and how each is run and recorded: list-append
 * transactions, reads (strong and bounded-stale), write-nothing updates, bank
 * transfers and views, exactly-once ledger writes, failing callbacks,
 * deferred-FK violations, DDL, compaction, gc, pull/push, a foreign (Go-like)
 * writer, deploys racing migrations, close, crash, and operator actions.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { DatabaseSync } from 'node:sqlite'
import { isS3dbError, S3db, type Tx } from '@s3db/core'
import { parseManifest, viewNow } from '@s3db/core/internal'
import Database from 'better-sqlite3'
import {
  BANK_ACCOUNTS,
  COUNTERS,
  CrashedError,
  LIST_KEYS,
  MAX_LEVEL,
  PREFIX,
  runtimeFor,
  type SimClient,
} from './clients.ts'
import type { ErrorSeen, Mop, OpRecord } from './history.ts'
import { HISTORY_OP_WEIGHTS, startHistoryOp } from './history-ops.ts'
import type { Prng } from './prng.ts'
import { replay } from './replay.ts'
import type { Sim } from './simulate.ts'
import { simContext } from './world.ts'

export const OP_WEIGHTS = {
  txn: 16,
  read: 8,
  check: 7,
  transfer: 6,
  bankview: 4,
  ledger: 6,
  bump: 6,
  failcb: 2,
  fk: 2,
  ddl: 2,
  compact: 4,
  gc: 4,
  push: 2,
  go: 3,
  deploy: 2,
  close: 2,
  crash: 2,
  restore: 1,
  recreate: 0.5,
  rmlock: 1,
  // History (history-ops.ts): past reads, engine restores (undo), branches.
  ...HISTORY_OP_WEIGHTS,
} as const

export type OpKind = keyof typeof OP_WEIGHTS

/**
 * Operation kinds left out of runs by default because they trip an engine bug
 * known on current main (see the reasons); `--all` (SimOptions.all) runs them.
 * Remove an entry once the engine is fixed.
 */
export const HELD_BACK: Partial<Record<OpKind, string>> = {}

/** One planned operation (drawn from the seed before the run). */
export interface PlannedOp {
  id: number
  at: number
  kind: OpKind
  client: number
  /** List-append micro-ops: reads and appends (values unique). */
  plan: (['r', string] | ['a', string, number])[]
  /** Abort the op this many ms after it started, if set. */
  abortAfter?: number | undefined
  from: number
  to: number
  amount: number
}

/** Thrown by the 'failcb' operation's callback. */
export class SimCallbackError extends Error {
  override name = 'SimCallbackError'
}

export function planOps(
  rng: Prng,
  count: number,
  clients: number,
  weights: Partial<Record<OpKind, number>>,
  burst = 0,
): PlannedOp[] {
  const ops: PlannedOp[] = []
  let at = 0
  for (let id = 1; id <= count; id++) {
    // A burst: ops within a round trip of each other, so that several clients
    // commit on the same manifest (lost races, and point writes carried by
    // another client's commit).
    if (burst > 0 && rng.chance(burst)) at += rng.int(0, 40)
    else at += rng.chance(0.05) ? rng.int(10_000, 90_000) : rng.int(0, 2_500)
    const kind = rng.weighted({ ...OP_WEIGHTS, ...weights } as Record<OpKind, number>)
    const plan: PlannedOp['plan'] = []
    const n = rng.int(1, 3)
    for (let i = 0; i < n; i++) {
      const key = rng.pick(LIST_KEYS)
      if (kind === 'read' || kind === 'check' || rng.chance(0.4)) plan.push(['r', key])
      else plan.push(['a', key, id * 10 + i])
    }
    if (
      (kind === 'failcb' || kind === 'fk' || kind === 'ddl' || kind === 'push' || kind === 'go') &&
      !plan.some((m) => m[0] === 'a')
    )
      plan.push(['a', rng.pick(LIST_KEYS), id * 10 + 9])
    const from = rng.int(1, BANK_ACCOUNTS)
    ops.push({
      id,
      at,
      kind,
      client: rng.int(1, clients),
      plan,
      abortAfter:
        ['txn', 'read', 'check', 'transfer', 'ledger', 'bump', 'ddl'].includes(kind) &&
        rng.chance(0.15)
          ? rng.int(0, 150)
          : undefined,
      from,
      to: (from % BANK_ACCOUNTS) + 1,
      amount: rng.int(1, 80),
    })
  }
  return ops
}

export function errorSeen(err: unknown): ErrorSeen {
  const e = err as { code?: unknown; name?: string; message?: string; cause?: { code?: unknown } }
  return {
    code: isS3dbError(err) ? err.code : undefined,
    name: e?.name ?? typeof err,
    message: String(e?.message ?? err).slice(0, 300),
    causeCode: isS3dbError(e?.cause) ? e.cause.code : undefined,
  }
}

function parseList(v: string | undefined): number[] | null {
  if (v === undefined) return null
  return v === '' ? [] : v.split(' ').map(Number)
}

const UPSERT =
  "INSERT INTO lists (k, v) VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = lists.v || ' ' || excluded.v"

/** Runs the micro-ops in `tx`, returning what they saw. */
function runMops(tx: Tx, plan: PlannedOp['plan']): Mop[] {
  const seen: Mop[] = []
  for (const m of plan) {
    if (m[0] === 'r') {
      const row = tx.get<{ v: string }>('SELECT v FROM lists WHERE k = ?', [m[1]])
      seen.push(['r', m[1], parseList(row?.v)])
    } else {
      tx.run(UPSERT, [m[1], String(m[2])])
      seen.push(['a', m[1], m[2]])
    }
  }
  return seen
}

function readBalances(tx: Tx): number[] {
  return tx
    .all<{ balance: number }>('SELECT balance FROM accounts ORDER BY id')
    .map((r) => Number(r.balance))
}

const appendsOf = (p: PlannedOp['plan']): Mop[] =>
  p.filter((m): m is ['a', string, number] => m[0] === 'a')

/** Starts planned op `p` (called from a world event). */
export function startOp(sim: Sim, p: PlannedOp): void {
  const world = sim.world
  const rec: OpRecord = {
    id: p.id,
    kind: p.kind,
    client: `c${p.client}`,
    start: world.now,
    status: 'pending',
    segment: sim.segment,
  }
  const client = sim.clients[p.client - 1]!
  let controller: AbortController | undefined
  if (p.abortAfter !== undefined) {
    const c = new AbortController()
    controller = c
    world.at(world.now + p.abortAfter, () => {
      if (rec.status !== 'pending') return
      rec.aborted = true
      world.log(`op ${p.id} abort`)
      c.abort(new Error('sim: caller aborted'))
    })
  }
  const signal = controller?.signal
  /** Records the outcome: an error is indeterminate exactly when it says so. */
  const finish = (err?: unknown, status?: OpRecord['status']) => {
    // Settled already: at the end of the run a pending op of a crashed process
    // is recorded as never answered (outcome unknown); a late settlement of its
    // abandoned call says nothing more.
    if (rec.status !== 'pending') return
    rec.end = world.now
    if (err instanceof CrashedError) {
      rec.status = 'info'
      rec.note = 'its process crashed'
    } else if (err !== undefined) {
      rec.error = errorSeen(err)
      const indeterminate =
        rec.error.code === 'CommitIndeterminate' || rec.error.causeCode === 'CommitIndeterminate'
      rec.status = status ?? (indeterminate ? 'info' : 'fail')
    } else rec.status = status ?? 'ok'
    world.log(
      `op ${p.id} ${p.kind} ${rec.client} -> ${rec.status}${rec.error ? ` ${rec.error.code ?? rec.error.name}` : ''}${rec.mops ? ` ${JSON.stringify(rec.mops)}` : ''}${rec.balances ? ` [${rec.balances.join(' ')}]` : ''}${rec.note ? ` (${rec.note})` : ''}`,
    )
  }
  sim.history.ops.push(rec)
  world.log(`op ${p.id} ${p.kind} ${rec.client} start ${JSON.stringify(p.plan)}`)

  /** An update: writes count as indeterminate when the outcome is unknown. */
  const viaClient = (body: (db: S3db) => Promise<void>) =>
    client
      .run(p.id, async () => {
        const db = await client.ensureOpen()
        await body(db)
      })
      .then(
        () => finish(),
        (err) => finish(err),
      )

  if (startHistoryOp(sim, p, rec, finish)) return
  switch (p.kind) {
    case 'txn':
    case 'failcb':
    case 'fk':
    case 'ddl': {
      rec.mops = appendsOf(p.plan)
      if (p.kind === 'failcb') rec.expects = 'callback'
      if (p.kind === 'fk') rec.expects = 'fk'
      if (p.kind === 'ddl') rec.token = `t${p.id}`
      // An update that writes nothing is answered like a read: it may be as stale
      // as the client allows (it skips the confirming GET within maxStalenessMs).
      if (p.kind === 'txn' && rec.mops.length === 0) rec.staleMs = client.staleMs
      void viaClient(async (db) => {
        rec.mops = await db.update(
          (tx) => {
            if (p.kind === 'ddl') {
              tx.exec(`CREATE TABLE IF NOT EXISTS ddl_${p.id} (id INTEGER PRIMARY KEY, v TEXT)`)
              tx.run('INSERT INTO ledger (token) VALUES (?)', [rec.token!])
            }
            const seen = runMops(tx, p.plan)
            if (p.kind === 'fk')
              tx.run('INSERT INTO child (id, parent_id) VALUES (?, 999999)', [p.id])
            if (p.kind === 'failcb')
              throw new SimCallbackError(`sim: callback of op ${p.id} failed`)
            return seen
          },
          { signal },
        )
      })
      return
    }
    case 'read':
      rec.staleMs = client.staleMs
      void viaClient(async (db) => {
        // Every other read goes the ORM drivers' way for a statement outside a
        // transaction: synchronously when the replica may answer as it is.
        const now =
          p.id % 2 === 0 && !signal?.aborted ? db[viewNow]((tx) => runMops(tx, p.plan)) : undefined
        if (now) rec.note = 'read now'
        rec.mops = now ? now.value : await db.view((tx) => runMops(tx, p.plan), { signal })
      })
      return
    case 'check':
      // Check-then-act whose condition never holds: an update that writes nothing.
      rec.staleMs = client.staleMs
      void viaClient(async (db) => {
        rec.mops = await db.update(
          (tx) => {
            const seen = runMops(tx, p.plan)
            const huge = seen.some((m) => m[0] === 'r' && (m[2]?.length ?? 0) > 100_000)
            if (huge) tx.run(UPSERT, ['k0', '0'])
            return seen
          },
          { signal },
        )
      })
      return
    case 'transfer':
      void viaClient(async (db) => {
        rec.note = `${p.amount} from ${p.from} to ${p.to}`
        rec.balances = await db.update(
          (tx) => {
            const balances = readBalances(tx)
            if (balances[p.from - 1]! >= p.amount) {
              tx.run('UPDATE accounts SET balance = balance - ? WHERE id = ?', [p.amount, p.from])
              tx.run('UPDATE accounts SET balance = balance + ? WHERE id = ?', [p.amount, p.to])
            }
            return balances
          },
          { signal },
        )
      })
      return
    case 'bump': {
      // Point writes only (an UPDATE by the whole primary key per row, no read):
      // the transactions other processes may carry in their commit.
      const first = ((p.from - 1) % COUNTERS) + 1
      rec.bumps = p.amount % 2 === 0 ? [first] : [first, (first % COUNTERS) + 1]
      rec.note = `counters ${rec.bumps.join(' ')}`
      void viaClient(async (db) => {
        await db.update(
          (tx) => {
            for (const id of rec.bumps!) tx.run('UPDATE counters SET n = n + 1 WHERE id = ?', [id])
          },
          { signal },
        )
      })
      return
    }
    case 'bankview':
      void viaClient(async (db) => {
        rec.balances = await db.view(readBalances, { signal })
      })
      return
    case 'ledger':
      rec.token = `t${p.id}`
      void viaClient(async (db) => {
        await db.update(
          (tx) => {
            tx.run('INSERT INTO ledger (token) VALUES (?)', [rec.token!])
          },
          { signal },
        )
      })
      return
    case 'compact':
      void viaClient(async (db) => {
        const r = await db.compact()
        rec.note = r.compacted ? `folded ${r.folded} at seq ${r.seq}` : 'nothing'
      })
      return
    case 'gc':
      void viaClient(async (db) => {
        const r = await db.gc({ gracePeriod: sim.config.gracePeriodMs })
        rec.note = `deleted ${r.deleted.length}, retained ${r.retained.length}, skew ${world.skew.get(client.name)}`
      })
      return
    case 'close':
      void client
        .run(p.id, () => client.close())
        .then(
          () => finish(),
          (err) => finish(err),
        )
      return
    case 'crash':
      sim.crashedAt.set(client.name, world.now)
      client.crash()
      rec.note = `restarts on copy ${client.generation}`
      finish()
      return
    case 'deploy': {
      const level = Math.min(MAX_LEVEL, sim.level + 1)
      sim.level = level
      rec.note = `level ${client.level} -> ${level}`
      void client
        .run(p.id, async () => {
          await client.close()
          client.level = Math.max(client.level, level)
          await client.ensureOpen()
        })
        .then(
          () => finish(),
          (err) => finish(err),
        )
      return
    }
    case 'rmlock':
      sim.removeLockFile(client)
      finish()
      return
    case 'push':
      rec.client = 'tool'
      rec.mops = appendsOf(p.plan)
      rec.token = `t${p.id}`
      void simContext
        .run({ client: 'tool', op: p.id, life: sim.toolLife }, () => pushOp(sim, p, rec))
        .then(
          () => finish(),
          (err) => finish(err),
        )
      return
    case 'go':
      rec.client = 'go'
      rec.mops = appendsOf(p.plan)
      rec.token = `t${p.id}`
      rec.expects = undefined
      void simContext
        .run({ client: 'go', op: p.id, life: sim.goLife }, () => goOp(sim, p, rec))
        .then(
          () => finish(),
          (err: unknown) => {
            finish(err, (err as { landed?: boolean }).landed ? 'info' : 'fail')
            // The foreign writer is not the engine: its errors are its own.
            rec.error = undefined
          },
        )
      return
    case 'restore':
      rec.client = 'operator'
      rec.note = sim.operatorRestore()
      finish()
      return
    case 'recreate':
      rec.client = 'operator'
      void simContext
        .run({ client: 'admin', op: p.id, life: sim.adminLife }, () => sim.operatorRecreate())
        .then(
          (note) => {
            rec.note = note
            finish()
          },
          (err) => finish(err),
        )
      return
  }
}

/** Pull the database into a file, edit it as a user would, push it back (guarded by seq). */
async function pushOp(sim: Sim, p: PlannedOp, rec: OpRecord): Promise<void> {
  const dir = mkdtempSync(join(sim.dir, 'push-'))
  try {
    const file = join(dir, 'db.sqlite')
    const runtime = runtimeFor(sim, 'tool')
    const pulled = await S3db.pull(sim.store, PREFIX, file, { runtime } as never)
    const db = new Database(file)
    const seen: Mop[] = []
    try {
      for (const m of p.plan) {
        if (m[0] === 'r') {
          const row = db.prepare('SELECT v FROM lists WHERE k = ?').get(m[1]) as
            | { v: string }
            | undefined
          seen.push(['r', m[1], parseList(row?.v)])
        } else {
          db.prepare(UPSERT).run(m[1], String(m[2]))
          seen.push(['a', m[1], m[2]])
        }
      }
      db.prepare('INSERT INTO ledger (token) VALUES (?)').run(rec.token)
    } finally {
      db.close()
    }
    rec.note = `pulled seq ${pulled.seq}`
    // As the CLI does: the pull record names the object that committed the pulled seq.
    const record = JSON.parse(readFileSync(`${file}.s3db-seq`, 'utf8')) as { head?: string }
    const guard = { expectedSeq: pulled.seq, expectedHead: record.head }
    await S3db.push(sim.store, PREFIX, file, guard, { runtime } as never)
    rec.mops = seen
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The Go client's snapshot replacement: read the manifest and the database,
 * change it, write a new snapshot, and CAS the manifest to the same seq with
 * an empty log (as Go's Push and migrations do). No retries, no ambiguity
 * handling: a lost answer leaves it not knowing.
 */
async function goOp(sim: Sim, p: PlannedOp, rec: OpRecord): Promise<void> {
  const store = sim.store
  const mkey = `${PREFIX}manifest.json`
  const res = await store.get(mkey)
  if (res.notModified) throw new Error('unexpected 304')
  const manifest = parseManifest(res.body, mkey, PREFIX)
  const objects = new Map<string, Uint8Array>([[mkey, res.body]])
  for (const key of [manifest.snapshot.key, ...manifest.log.map((e) => e.key)]) {
    const o = await store.get(key)
    if (o.notModified) throw new Error('unexpected 304')
    objects.set(key, o.body)
  }
  const dir = mkdtempSync(join(sim.dir, 'go-'))
  try {
    const file = join(dir, 'go.sqlite')
    const built = replay((k) => objects.get(k), mkey, PREFIX, file)
    if (!built.ok) throw new Error(`go: ${built.error}`)
    const db = new DatabaseSync(file, { enableForeignKeyConstraints: false })
    const seen: Mop[] = []
    try {
      db.exec('PRAGMA journal_mode = DELETE')
      for (const m of p.plan) {
        if (m[0] === 'r') {
          const row = db.prepare('SELECT v FROM lists WHERE k = ?').get(m[1]) as
            | { v: string }
            | undefined
          seen.push(['r', m[1], parseList(row?.v)])
        } else {
          db.prepare(UPSERT).run(m[1], String(m[2]))
          seen.push(['a', m[1], m[2]])
        }
      }
      db.prepare('INSERT INTO ledger (token) VALUES (?)').run(rec.token!)
    } finally {
      db.close()
    }
    const bytes = readFileSync(file)
    const key = `${PREFIX}snapshots/snap-${sim.world.newId()}.sqlite`
    await store.put(key, bytes)
    const next = {
      format_version: 1,
      seq: manifest.seq,
      schema_version: manifest.schemaVersion,
      snapshot: { key, seq: manifest.seq, size: bytes.byteLength },
      log: [],
    }
    try {
      await store.put(mkey, new TextEncoder().encode(JSON.stringify(next)), { ifMatch: res.etag })
    } catch (err) {
      const landed =
        !isS3dbError(err, 'PreconditionFailed') &&
        !(isS3dbError(err, 'StoreUnavailable') && !(err as { maybeApplied?: boolean }).maybeApplied)
      throw Object.assign(err as Error, { landed })
    }
    rec.mops = seen
    rec.note = `replaced the snapshot at seq ${manifest.seq}`
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

export type { SimClient }
