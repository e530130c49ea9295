/**
 * The board. Rendered on every request (it is shared, live data) from one
 * consistent Kysely read; the forms call server actions that write through Drizzle.
 */
import { cookies } from 'next/headers'
import { LIMITS } from '../src/board/mutations'
import { readBoard } from '../src/board/queries'
import { getDb } from '../src/db'
import { toggleDoneAction, voteAction } from './actions'
import { NewIdeaForm } from './new-idea-form'
import { SubmitButton } from './submit-button'

export const dynamic = 'force-dynamic'

const time = new Intl.DateTimeFormat('en', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
  timeZoneName: 'short',
})

export default async function BoardPage() {
  const db = await getDb()
  const board = await readBoard(db)
  const name = (await cookies()).get('name')?.value ?? ''
  return (
    <main>
      <header>
        <h1>Idea board</h1>
        <p className="muted">
          Shared by everyone who opens this page, stored in SQLite on{' '}
          {db.location.kind === 's3' ? 'S3' : 'a filesystem store'}.
        </p>
      </header>

      <NewIdeaForm name={name} limits={LIMITS} />

      <section aria-label="Ideas">
        {board.ideas.length === 0 ? (
          <p className="muted">No ideas yet. Post the first one.</p>
        ) : null}
        <ul className="ideas">
          {board.ideas.map((idea) => (
            <li key={idea.id} className={idea.done ? 'done' : undefined}>
              <form action={voteAction}>
                <input type="hidden" name="id" value={idea.id} />
                <SubmitButton
                  label={`▲ ${idea.votes}`}
                  pendingLabel={`▲ ${idea.votes}…`}
                  ariaLabel={`Vote for ${idea.title}`}
                  className="vote"
                />
              </form>
              <div className="idea">
                <span className="title">{idea.title}</span>
                <span className="muted"> by {idea.author}</span>
              </div>
              <form action={toggleDoneAction}>
                <input type="hidden" name="id" value={idea.id} />
                <SubmitButton
                  label={idea.done ? 'Reopen' : 'Done'}
                  pendingLabel="…"
                  ariaLabel={`${idea.done ? 'Reopen' : 'Mark done'}: ${idea.title}`}
                />
              </form>
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

      <footer className="muted">
        <span data-testid="totals">
          {board.totals.ideas} ideas · {board.totals.votes} votes · {board.totals.actions} actions
        </span>
        <br />
        database seq {board.seq} · served by process {process.pid} · {db.location.describe}
      </footer>
    </main>
  )
}
