'use client'
/** The "new idea" form: shows validation errors and clears the title once posted. */
import { useActionState } from 'react'
import { type PostIdeaState, postIdeaAction } from './actions'
import { SubmitButton } from './submit-button'

export function NewIdeaForm({
  name,
  limits,
}: {
  name: string
  limits: { title: number; name: number }
}) {
  const [state, action] = useActionState<PostIdeaState, FormData>(postIdeaAction, {})
  return (
    <form action={action} className="new-idea">
      <input
        name="title"
        aria-label="New idea"
        placeholder="What should we do?"
        required
        maxLength={limits.title}
        // A new key after each post remounts the input empty.
        key={state.posted ?? 'new'}
      />
      <input
        name="author"
        aria-label="Your name"
        placeholder="Your name"
        required
        maxLength={limits.name}
        defaultValue={name}
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
