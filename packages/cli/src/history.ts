/**
 * The shell's history file (~/.s3db_history, or S3DB_HISTORY): one entry per
 * line, oldest first, private to the user (statements may hold secrets).
 *
 * @module
 */
import { appendFile, readFile, writeFile } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'

const KEEP = 1000

export function historyPath(env: NodeJS.ProcessEnv): string {
  return env.S3DB_HISTORY || join(homedir(), '.s3db_history')
}

/** Entries, most recent first (the order readline's `history` option wants). */
export async function loadHistory(path: string): Promise<string[]> {
  let lines: string[]
  try {
    lines = (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '')
  } catch {
    return []
  }
  if (lines.length > 2 * KEEP) {
    lines = lines.slice(-KEEP)
    await writeFile(path, `${lines.join('\n')}\n`, { mode: 0o600 }).catch(() => {})
  }
  return lines.slice(-KEEP).reverse()
}

/** Appends one entry (a multi-line statement becomes one line). Failures are ignored. */
export async function appendHistory(path: string, entry: string): Promise<void> {
  const line = entry.replace(/\s*\n\s*/g, ' ').trim()
  if (line === '') return
  await appendFile(path, `${line}\n`, { mode: 0o600 }).catch(() => {})
}
