'use server'
/**
 * Server actions. Each one validates its form, runs ONE Drizzle transaction
 * (which may run several times under contention) and only after it committed
 * does the side effects: remembering the user's name and refreshing the page.
 */
import { revalidatePath } from 'next/cache'
import { cookies } from 'next/headers'
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
}

const NAME_COOKIE = 'name'

/** Who is acting: the name this browser last posted with. */
async function actor(): Promise<string> {
  return (await cookies()).get(NAME_COOKIE)?.value || 'someone'
}

export async function postIdeaAction(_prev: PostIdeaState, form: FormData): Promise<PostIdeaState> {
  let title: string
  let author: string
  try {
    title = cleanText(form.get('title'), 'A title', LIMITS.title)
    author = cleanText(form.get('author'), 'Your name', LIMITS.name)
  } catch (err) {
    if (err instanceof InvalidInput) return { error: err.message }
    throw err
  }
  const posted = await postIdea(await getDb(), { title, author })
  ;(await cookies()).set(NAME_COOKIE, author, {
    maxAge: 60 * 60 * 24 * 365,
    sameSite: 'lax',
    httpOnly: true,
  })
  revalidatePath('/')
  return { posted }
}

export async function voteAction(form: FormData): Promise<void> {
  await vote(await getDb(), { id: parseId(form.get('id')), actor: await actor() })
  revalidatePath('/')
}

export async function toggleDoneAction(form: FormData): Promise<void> {
  await toggleDone(await getDb(), { id: parseId(form.get('id')), actor: await actor() })
  revalidatePath('/')
}
