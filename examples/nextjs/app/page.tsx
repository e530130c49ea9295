/**
 * The board. Rendered on every request (it is shared, live data) from one
 * consistent Kysely read; the forms call server actions that write through
 * Drizzle. When the database cannot be read (the store is down, this server's
 * replica is locked), the page says so instead of failing, and the form stays
 * usable so people can try again.
 */
import { cookies } from 'next/headers'
import { describeFailure } from '../src/board/failures'
import { type HistoryItem, readBoardAt, readHistory } from '../src/board/history'
import { LIMITS } from '../src/board/mutations'
import { type Board, readBoard } from '../src/board/queries'
import { getDb } from '../src/db'
import { DoneForm, VoteForm } from './idea-forms'
import { NameProvider } from './name-context'
import { NewIdeaForm } from './new-idea-form'
import { UndoForm } from './undo-form'

export const dynamic = 'force-dynamic'

const time = new Intl.DateTimeFormat('en', {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
  hourCycle: 'h23',
  timeZone: 'UTC',
  timeZoneName: 'short',
})

type Loaded =
  | { ok: true; board: Board; storedIn: string; history: HistoryItem[] }
  | { ok: false; problem: string }

/** The live board, or the board as it was at seq `at` (read-only). */
async function load(at: number | undefined): Promise<Loaded> {
  try {
    const db = await getDb()
    const [board, history] = await Promise.all([
      at === undefined ? readBoard(db) : readBoardAt(db, at),
      readHistory(db),
    ])
    return {
      ok: true,
      board,
      history,
      storedIn: db.location.kind === 's3' ? 'S3' : 'a filesystem store',
    }
  } catch (err) {
    console.error('reading the board failed:', err)
    return { ok: false, problem: describeFailure(err).message }
  }
}

/** `?at=<seq>`: a past state; anything else is the live board. */
function pastSeq(value: string | string[] | undefined): number | undefined {
  if (typeof value !== 'string' || !/^\d+$/.test(value)) return undefined
  const seq = Number(value)
  return Number.isSafeInteger(seq) ? seq : undefined
}

export default async function BoardPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>
}) {
  const at = pastSeq((await searchParams).at)
  const loaded = await load(at)
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
        {at === undefined ? <NewIdeaForm limits={LIMITS} /> : null}

        {loaded.ok && at !== undefined ? (
          <section aria-label="Past state" className="past" role="status">
            <p>
              You are looking at the board as it was at seq {at}
              {timeOf(loaded.history, at)}. It is read-only.
            </p>
            <UndoForm seq={at} />
            <a href="/">Back to now</a>
          </section>
        ) : null}

        {loaded.ok ? (
          at === undefined ? (
            <Ideas board={loaded.board} />
          ) : (
            <PastIdeas board={loaded.board} />
          )
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

      {loaded.ok ? <History items={loaded.history} at={at} /> : null}
    </main>
  )
}

function timeOf(items: HistoryItem[], seq: number): string {
  const t = items.find((i) => i.seq === seq)?.time
  return t === undefined ? '' : ` (${time.format(t)})`
}

/** The last commits; each links to the board as it was right after it. */
function History({ items, at }: { items: HistoryItem[]; at: number | undefined }) {
  return (
    <section aria-label="History" className="history">
      <h2>History</h2>
      <p className="muted">
        Every change is kept for a week: open any state of the board, and undo back to it.
      </p>
      <ol reversed>
        {items.map((item, i) => (
          <li key={item.seq} className={item.seq === at ? 'current' : undefined}>
            {i === 0 && at === undefined ? (
              <span>now</span>
            ) : (
              <a href={`/?at=${item.seq}`} aria-label={`Board at seq ${item.seq}`}>
                seq {item.seq}
              </a>
            )}{' '}
            <span className="muted">
              {item.time === undefined ? '' : time.format(item.time)} {item.summary}
            </span>
          </li>
        ))}
      </ol>
    </section>
  )
}

/** The ideas of a past state: read-only, no buttons. */
function PastIdeas({ board }: { board: Board }) {
  return (
    <section aria-label="Ideas">
      {board.ideas.length === 0 ? <p className="muted">No ideas yet at this point.</p> : null}
      <ul className="ideas">
        {board.ideas.map((idea) => (
          <li key={idea.id} className={idea.done ? 'done' : undefined}>
            <span className="votes" data-testid={`votes-${idea.id}`}>
              ▲ {idea.votes}
            </span>
            <div className="idea">
              <span className="title">{idea.title}</span>
              <span className="muted"> by {idea.author}</span>
            </div>
          </li>
        ))}
      </ul>
    </section>
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
