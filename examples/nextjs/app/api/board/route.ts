/**
 * The board as JSON (GET /api/board), through the same Kysely read as the page:
 * handy for scripts, curl, and the tests that compare servers. 503 with the
 * reason when the database cannot be read.
 */
import { describeFailure } from '../../../src/board/failures'
import { readBoard } from '../../../src/board/queries'
import { getDb } from '../../../src/db'

export const dynamic = 'force-dynamic'

export async function GET(): Promise<Response> {
  try {
    return Response.json(await readBoard(await getDb()))
  } catch (err) {
    console.error('reading the board failed:', err)
    return Response.json({ error: describeFailure(err).message }, { status: 503 })
  }
}
