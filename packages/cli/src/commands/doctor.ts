import { type BlobStore, checkStore, isS3dbError } from '@s3db/core'
import { forEachLimited, type Manifest } from '@s3db/core/internal'
import type { CommandContext, CommandSpec } from '../command.js'
import { fetchManifest, type Resolved, resolveTarget } from '../database.js'
import { CliError, redact } from '../errors.js'
import { explainError } from '../explain.js'
import { formatBytes, toJson } from '../output.js'

type Verdict = 'PASS' | 'FAIL' | 'WARN' | 'SKIP'

interface Check {
  name: string
  verdict: Verdict
  /** FAIL of a required check makes the exit code 1. */
  required: boolean
  detail: string
  /** Set on the manifest check when there is no database at all (not a broken one). */
  missing?: boolean
}

/** An error as one line of a check's detail: explained, without credentials. */
type Describe = (err: unknown) => string

function describer(env: NodeJS.ProcessEnv): Describe {
  return (err) => {
    const shown = explainError(err, env)
    return redact(shown instanceof Error ? shown.message : String(shown), env)
  }
}

async function accessCheck(r: Resolved, signal: AbortSignal, message: Describe): Promise<Check> {
  const name = 'credentials and bucket access'
  try {
    let n = 0
    for await (const _ of r.store.list(r.keys.prefix, { signal })) {
      n++
      if (n >= 1000) break
    }
    return {
      name,
      verdict: 'PASS',
      required: true,
      detail: `listed ${n >= 1000 ? '1000+' : n} object${n === 1 ? '' : 's'} under ${r.target.display}`,
    }
  } catch (err) {
    return { name, verdict: 'FAIL', required: true, detail: message(err) }
  }
}

/**
 * The IAM permissions s3db needs under the prefix, each exercised once on a
 * scratch object in `<prefix>_s3db_check/`: s3:ListBucket, s3:PutObject,
 * s3:GetObject (required) and s3:DeleteObject (gc only: a WARN without it).
 * Exactly the actions of the minimal policy in the README's Deploy section.
 */
export async function permissionsCheck(
  store: BlobStore,
  prefix: string,
  signal: AbortSignal,
  message: (err: unknown) => string,
): Promise<Check> {
  const name = 'IAM permissions'
  const key = `${prefix}_s3db_check/permissions-${process.pid}-${Date.now()}`
  const denied: string[] = []
  const allowed: string[] = []
  const attempt = async (action: string, fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await fn()
      allowed.push(action)
      return true
    } catch (err) {
      denied.push(`${action} (${message(err)})`)
      return false
    }
  }
  await attempt('s3:ListBucket', async () => {
    for await (const _ of store.list(prefix, { signal })) break
  })
  if (await attempt('s3:PutObject', () => store.put(key, new Uint8Array([1]), { signal }))) {
    await attempt('s3:GetObject', () => store.get(key, { signal }))
    await attempt('s3:DeleteObject', () => store.delete(key, { signal }))
  } else {
    denied.push('s3:GetObject and s3:DeleteObject not tried (nothing could be written)')
  }
  if (denied.length === 0)
    return { name, verdict: 'PASS', required: true, detail: `${allowed.join(', ')} allowed` }
  const onlyDelete = denied.length === 1 && denied[0]!.startsWith('s3:DeleteObject')
  return {
    name,
    verdict: onlyDelete ? 'WARN' : 'FAIL',
    required: !onlyDelete,
    detail: `denied: ${denied.join('; ')}${onlyDelete ? ' (only gc needs it)' : ''}; allowed: ${allowed.join(', ') || 'none'}`,
  }
}

async function conditionalWriteChecks(
  r: Resolved,
  signal: AbortSignal,
  env: NodeJS.ProcessEnv,
): Promise<Check[]> {
  const report = await checkStore(r.store, r.keys.prefix, { signal })
  return report.checks.map((c) => ({
    name: c.name,
    verdict: c.ok ? 'PASS' : c.required ? 'FAIL' : 'WARN',
    required: c.required,
    detail: redact(c.detail, env),
  }))
}

async function referencedObjects(
  store: BlobStore,
  m: Manifest,
  signal: AbortSignal,
  message: Describe,
): Promise<Check> {
  const refs = [m.snapshot, ...m.log]
  const missing: string[] = []
  const wrongSize: string[] = []
  const failed: string[] = []
  await forEachLimited(refs, 8, async (ref) => {
    try {
      const info = await store.stat(ref.key, { signal })
      if (ref.size > 0 && info.size !== ref.size) {
        wrongSize.push(`${ref.key} is ${info.size} bytes, the manifest says ${ref.size}`)
      }
    } catch (err) {
      if (isS3dbError(err, 'NotFound')) missing.push(ref.key)
      else failed.push(`${ref.key}: ${message(err)}`)
    }
  })
  const name = 'referenced objects reachable'
  const problems = [
    ...missing.map((k) => `missing: ${k}`),
    ...wrongSize.map((s) => `wrong size: ${s}`),
    ...failed.map((s) => `unreadable: ${s}`),
  ]
  if (problems.length === 0) {
    const bytes = refs.reduce((n, r) => n + r.size, 0)
    return {
      name,
      verdict: 'PASS',
      required: true,
      detail: `snapshot and ${m.log.length} changeset${m.log.length === 1 ? '' : 's'} present (${formatBytes(bytes)})`,
    }
  }
  return {
    name,
    verdict: 'FAIL',
    required: true,
    detail: `${problems.length} of ${refs.length} referenced objects are broken: ${problems.slice(0, 5).join('; ')}${problems.length > 5 ? '; ...' : ''}`,
  }
}

async function snapshotHeader(
  store: BlobStore,
  m: Manifest,
  signal: AbortSignal,
  message: Describe,
): Promise<Check> {
  const name = 'snapshot is a SQLite file'
  try {
    const res = await store.get(m.snapshot.key, { range: { start: 0, end: 16 }, signal })
    if (res.notModified) throw new Error('unexpected "not modified"')
    const ok = Buffer.from(res.body).toString('latin1') === 'SQLite format 3\0'
    return {
      name,
      verdict: ok ? 'PASS' : 'FAIL',
      required: true,
      detail: ok
        ? `${m.snapshot.key} starts with the SQLite header`
        : `${m.snapshot.key} does not start with "SQLite format 3": the snapshot is corrupt`,
    }
  } catch (err) {
    return { name, verdict: 'FAIL', required: true, detail: message(err) }
  }
}

async function diagnose(ctx: CommandContext, r: Resolved): Promise<Check[]> {
  const signal = ctx.signal
  const message = describer(ctx.env)
  const checks: Check[] = []
  const skipRest = (names: string[], why: string) => {
    for (const name of names) checks.push({ name, verdict: 'SKIP', required: false, detail: why })
  }
  const access = await accessCheck(r, signal, message)
  checks.push(access)
  if (access.verdict === 'FAIL') {
    skipRest(
      ['conditional writes', 'manifest valid', 'referenced objects reachable'],
      'the store is not accessible',
    )
    return checks
  }
  checks.push(await permissionsCheck(r.store, r.keys.prefix, signal, message))
  checks.push(...(await conditionalWriteChecks(r, signal, ctx.env)))
  let manifest: Manifest | undefined
  try {
    const fetched = await fetchManifest(r, signal)
    manifest = fetched.manifest
    checks.push({
      name: 'manifest valid',
      verdict: 'PASS',
      required: true,
      detail: `format ${manifest.formatVersion}, seq ${manifest.seq}, schema version ${manifest.schemaVersion}, log of ${manifest.log.length}`,
    })
  } catch (err) {
    checks.push({
      name: 'manifest valid',
      verdict: 'FAIL',
      required: true,
      detail: message(err),
      missing: err instanceof CliError && err.message.startsWith('no database at'),
    })
  }
  if (!manifest) {
    skipRest(['referenced objects reachable'], 'no valid manifest')
    return checks
  }
  checks.push(await referencedObjects(r.store, manifest, signal, message))
  checks.push(await snapshotHeader(r.store, manifest, signal, message))
  return checks
}

export const doctor: CommandSpec = {
  name: 'doctor',
  summary: 'Check that a target is usable and the database is healthy.',
  usage: 'doctor <target>',
  details: `Checks, in order: credentials and bucket access (lists the prefix); the IAM
permissions s3db needs (s3:ListBucket, s3:PutObject, s3:GetObject, s3:DeleteObject
for gc, each tried on a scratch object); that the store
honours conditional writes (creates, races and deletes scratch objects under
<prefix>_s3db_check/, so it needs write access); that the manifest is valid; that
every object it references exists with the recorded size; that the snapshot is a
SQLite file. Prints PASS/FAIL/WARN per check; exit 1 if a required check failed.`,
  options: { json: { type: 'boolean', description: 'print the checks as JSON' } },
  positionals: { min: 1, max: 1 },
  async run(ctx) {
    const r = await resolveTarget(ctx)
    const checks = await diagnose(ctx, r)
    const ok = checks.every((c) => c.verdict !== 'FAIL' || !c.required)
    if (ctx.values.json) {
      const list = checks.map(({ missing: _, ...c }) => c)
      ctx.io.stdout.write(`${toJson({ target: r.target.display, ok, checks: list })}\n`)
    } else {
      const width = Math.max(...checks.map((c) => c.name.length))
      const lines = [`s3db doctor ${r.target.display}`]
      for (const c of checks) lines.push(`  ${c.verdict}  ${c.name.padEnd(width)}  ${c.detail}`)
      const failed = checks.filter((c) => c.verdict === 'FAIL' && c.required)
      lines.push(
        ok
          ? checks.some((c) => c.verdict === 'WARN')
            ? 'verdict: usable, with warnings'
            : 'verdict: healthy'
          : failed.length === 1 && failed[0]?.missing
            ? 'verdict: the store is fine, but there is no database here: create one with `s3db init`'
            : 'verdict: NOT SAFE TO USE: fix the failed checks above',
      )
      ctx.io.stdout.write(`${lines.join('\n')}\n`)
    }
    return ok ? 0 : 1
  },
}
