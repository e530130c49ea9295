/**
 * The board. Rendered on every request (it is shared, live data) from one
 * consistent Kysely read; the forms call server actions that write through
 * Drizzle. When the database cannot be read (the store is down, this server's
 * replica is locked), the page says so instead of failing, and the form stays
 * usable so people can try again.
 */
import { cookies } from 'next/headers'
import { describeFailure } from '../src/board/failures'
import { LIMITS } from '../src/board/mutations'
import { type Board, readBoard } from '../src/board/queries'
import { getDb } from '../src/db'
import { DoneForm, VoteForm } from './idea-forms'
import { NameProvider } from './name-context'
import { NewIdeaForm } from './new-idea-form'

export const dynamic = 'force-dynamic'

const time = new Intl.DateTimeFormat('en', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
  timeZoneName: 'short',
})

type Loaded = { ok: true; board: Board; storedIn: string } | { ok: false; problem: string }

async function load(): Promise<Loaded> {
  try {
    const db = await getDb()
    const board = await readBoard(db)
    return { ok: true, board, storedIn: db.location.kind === 's3' ? 'S3' : 'a filesystem store' }
  } catch (err) {
    console.error('reading the board failed:', err)
    return { ok: false, problem: describeFailure(err).message }
  }
}

export default async function BoardPage() {
  const loaded = await load()
  const name = (await cookies()).get('name')?.value ?? ''
  return (
    <main>
      <header>
        <h1>Idea board</h1>
        <p className="muted">
          Shared by everyone who opens this page, stored in SQLite
          {loaded.ok ? ` on ${loaded.storedIn}` : ''}.
        </p>
      </header>

      <NameProvider initial={name}>
        <NewIdeaForm limits={LIMITS} />

        {loaded.ok ? (
          <Ideas board={loaded.board} />
        ) : (
          <section aria-label="Ideas" className="problem" role="status">
            <h2>The board cannot be shown right now</h2>
            <p>{loaded.problem}</p>
          </section>
        )}
      </NameProvider>

      {loaded.ok ? (
        <footer className="muted">
          <span data-testid="totals">
            {loaded.board.totals.ideas} ideas · {loaded.board.totals.votes} votes ·{' '}
            {loaded.board.totals.actions} actions
          </span>
          <br />
          database seq {loaded.board.seq}
        </footer>
      ) : null}
    </main>
  )
}

function Ideas({ board }: { board: Board }) {
  return (
    <>
      <section aria-label="Ideas">
        {board.ideas.length === 0 ? (
          <p className="muted">No ideas yet. Post the first one.</p>
        ) : null}
        <ul className="ideas">
          {board.ideas.map((idea) => (
            <li key={idea.id} className={idea.done ? 'done' : undefined}>
              <VoteForm id={idea.id} title={idea.title} votes={idea.votes} />
              <div className="idea">
                <span className="title">{idea.title}</span>
                <span className="muted"> by {idea.author}</span>
              </div>
              <DoneForm id={idea.id} title={idea.title} done={idea.done} />
            </li>
          ))}
        </ul>
      </section>

      <section aria-label="Recent activity">
        <h2>Recent activity</h2>
        <ol className="activity">
          {board.recent.map((a) => (
            <li key={a.id}>
              <time>{time.format(a.at)}</time> {a.actor} {a.kind} “{a.ideaTitle}”
            </li>
          ))}
        </ol>
      </section>
    </>
  )
}
