/**
 * The board as JSON (GET /api/board), through the same Kysely read as the page:
 * handy for scripts, curl, and the tests that compare servers.
 */
import { readBoard } from '../../../src/board/queries'
import { getDb } from '../../../src/db'

export const dynamic = 'force-dynamic'

export async function GET(): Promise<Response> {
  const db = await getDb()
  const board = await readBoard(db)
  return Response.json({ ...board, pid: process.pid, store: db.location.describe })
}
