'use client'
/** "Undo to this state": restores the board as it was at `seq` (a new commit). */
import { useActionState } from 'react'
import { type UndoState, undoAction } from './actions'
import { SubmitButton } from './submit-button'

export function UndoForm({ seq }: { seq: number }) {
  const [state, formAction] = useActionState<UndoState, FormData>(undoAction, {})
  return (
    <form action={formAction} className="undo">
      <input type="hidden" name="seq" value={seq} />
      <SubmitButton label="Undo to this state" pendingLabel="Undoing…" />
      {state.error ? (
        <p className="error" role="alert">
          {state.error}
        </p>
      ) : null}
    </form>
  )
}
