'use client'
/** A submit button that says so while its form's server action is running. */
import { useFormStatus } from 'react-dom'

export function SubmitButton({
  label,
  pendingLabel,
  ariaLabel,
  className,
}: {
  label: string
  pendingLabel: string
  ariaLabel?: string
  className?: string
}) {
  const { pending } = useFormStatus()
  return (
    <button type="submit" disabled={pending} aria-label={ariaLabel} className={className}>
      {pending ? pendingLabel : label}
    </button>
  )
}
