'use server'
/**
 * Server actions. Each one validates its form, runs ONE Drizzle transaction
 * (which may run several times under contention) and only after it committed
 * does the side effects: remembering the user's name and refreshing the page.
 *
 * A failure never escapes to Next.js (which would replace the page with its
 * generic error page and lose what the user typed): the action returns the
 * error, said for the user, with whether anything was saved, and the form keeps
 * the input.
 */
import { revalidatePath } from 'next/cache'
import { cookies } from 'next/headers'
import { redirect } from 'next/navigation'
import { describeFailure } from '../src/board/failures'
import { undoTo } from '../src/board/history'
import {
  cleanText,
  InvalidInput,
  LIMITS,
  parseId,
  postIdea,
  toggleDone,
  vote,
} from '../src/board/mutations'
import { getDb } from '../src/db'

export interface PostIdeaState {
  error?: string
  /** Id of the idea just posted; the form uses it to reset itself. */
  posted?: number
  /** What was submitted, so that a failed post keeps the input. */
  title?: string
  author?: string
}

export interface IdeaActionState {
  error?: string
}

const NAME_COOKIE = 'name'

async function rememberName(name: string): Promise<void> {
  ;(await cookies()).set(NAME_COOKIE, name, {
    maxAge: 60 * 60 * 24 * 365,
    sameSite: 'lax',
    httpOnly: true,
  })
}

/**
 * Who is acting: the name in the form (the "Your name" field, sent along with
 * votes too), else the one this browser last used, else "someone". `given` is
 * set when the form named someone: remember it once the change is saved (not
 * before: a cookie set by a failed action would refresh the page and drop the
 * error message).
 */
async function actor(form: FormData): Promise<{ name: string; given: boolean }> {
  const typed = form.get('actor')
  if (typeof typed === 'string' && typed.trim()) {
    return { name: cleanText(typed, 'Your name', LIMITS.name), given: true }
  }
  return { name: (await cookies()).get(NAME_COOKIE)?.value || 'someone', given: false }
}

function text(form: FormData, name: string): string {
  const value = form.get(name)
  return typeof value === 'string' ? value : ''
}

export async function postIdeaAction(_prev: PostIdeaState, form: FormData): Promise<PostIdeaState> {
  const typed = { title: text(form, 'title'), author: text(form, 'author') }
  let title: string
  let author: string
  try {
    title = cleanText(typed.title, 'A title', LIMITS.title)
    author = cleanText(typed.author, 'Your name', LIMITS.name)
  } catch (err) {
    if (err instanceof InvalidInput) return { error: err.message, ...typed }
    throw err
  }
  let posted: number
  try {
    posted = await postIdea(await getDb(), { title, author })
  } catch (err) {
    console.error('post idea failed:', err)
    return { error: describeFailure(err, 'Your idea').message, ...typed }
  }
  await rememberName(author)
  revalidatePath('/')
  return { posted }
}

async function ideaAction(
  form: FormData,
  change: string,
  run: (id: number, actor: string) => Promise<unknown>,
): Promise<IdeaActionState> {
  let who: { name: string; given: boolean }
  try {
    who = await actor(form)
    await run(parseId(form.get('id')), who.name)
  } catch (err) {
    if (err instanceof InvalidInput) return { error: err.message }
    console.error(`${change.toLowerCase()} failed:`, err)
    return { error: describeFailure(err, change).message }
  }
  if (who.given) await rememberName(who.name)
  revalidatePath('/')
  return {}
}

export async function voteAction(_prev: IdeaActionState, form: FormData): Promise<IdeaActionState> {
  return ideaAction(form, 'Your vote', async (id, who) => vote(await getDb(), { id, actor: who }))
}

export async function toggleDoneAction(
  _prev: IdeaActionState,
  form: FormData,
): Promise<IdeaActionState> {
  return ideaAction(form, 'The change', async (id, who) =>
    toggleDone(await getDb(), { id, actor: who }),
  )
}

export interface UndoState {
  error?: string
}

/** Undo to a past state (a restore: a new commit), then show the live board. */
export async function undoAction(_prev: UndoState, form: FormData): Promise<UndoState> {
  try {
    const seq = Number(form.get('seq'))
    if (!Number.isSafeInteger(seq) || seq < 0) throw new InvalidInput('no such state of the board')
    await undoTo(await getDb(), seq)
  } catch (err) {
    if (err instanceof InvalidInput) return { error: err.message }
    console.error('undo failed:', err)
    return { error: describeFailure(err, 'The undo').message }
  }
  revalidatePath('/')
  redirect('/')
}
