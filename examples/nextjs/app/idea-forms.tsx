'use client'
/**
 * The vote and done buttons of one idea. Each is a form (it works without
 * JavaScript too) that sends the name from the "Your name" field and shows a
 * failure next to the button instead of losing the page.
 */
import { useActionState } from 'react'
import { type IdeaActionState, toggleDoneAction, voteAction } from './actions'
import { useName } from './name-context'
import { SubmitButton } from './submit-button'

function IdeaForm({
  id,
  action,
  label,
  pendingLabel,
  ariaLabel,
  className,
}: {
  id: number
  action: (state: IdeaActionState, form: FormData) => Promise<IdeaActionState>
  label: string
  pendingLabel: string
  ariaLabel: string
  className?: string
}) {
  const [state, formAction] = useActionState<IdeaActionState, FormData>(action, {})
  const [name] = useName()
  return (
    <form action={formAction} className="idea-action">
      <input type="hidden" name="id" value={id} />
      <input type="hidden" name="actor" value={name} />
      <SubmitButton
        label={label}
        pendingLabel={pendingLabel}
        ariaLabel={ariaLabel}
        className={className}
      />
      {state.error ? (
        <span role="alert" className="error">
          {state.error}
        </span>
      ) : null}
    </form>
  )
}

export function VoteForm({ id, title, votes }: { id: number; title: string; votes: number }) {
  return (
    <IdeaForm
      id={id}
      action={voteAction}
      label={`▲ ${votes}`}
      pendingLabel={`▲ ${votes}…`}
      ariaLabel={`Vote for ${title}`}
      className="vote"
    />
  )
}

export function DoneForm({ id, title, done }: { id: number; title: string; done: boolean }) {
  return (
    <IdeaForm
      id={id}
      action={toggleDoneAction}
      label={done ? 'Reopen' : 'Done'}
      pendingLabel="…"
      ariaLabel={`${done ? 'Reopen' : 'Mark done'}: ${title}`}
    />
  )
}
