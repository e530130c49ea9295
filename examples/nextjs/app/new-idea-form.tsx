'use client'
/**
 * The "new idea" form: clears the title once posted; on a validation error or
 * a failed save it keeps what was typed and says what happened, including
 * whether the idea was saved.
 */
import { useActionState } from 'react'
import { type PostIdeaState, postIdeaAction } from './actions'
import { useName } from './name-context'
import { SubmitButton } from './submit-button'

export function NewIdeaForm({ limits }: { limits: { title: number; name: number } }) {
  const [state, action] = useActionState<PostIdeaState, FormData>(postIdeaAction, {})
  const [name, setName] = useName()
  return (
    <form action={action} className="new-idea">
      <input
        name="title"
        aria-label="New idea"
        placeholder="What should we do?"
        required
        maxLength={limits.title}
        // After a post, a new key remounts the input empty; after a failure, React
        // resets the form to these defaults, which hold what was typed.
        key={state.posted ?? 'new'}
        defaultValue={state.posted === undefined ? (state.title ?? '') : ''}
      />
      <input
        name="author"
        aria-label="Your name"
        placeholder="Your name"
        required
        maxLength={limits.name}
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <SubmitButton label="Post idea" pendingLabel="Posting…" />
      {state.error ? (
        <p role="alert" className="error">
          {state.error}
        </p>
      ) : null}
    </form>
  )
}
