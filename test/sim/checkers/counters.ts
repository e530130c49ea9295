/**
 * Counters: in each segment, every counter grew by exactly the bumps that
 * took effect there: at least the acknowledged ones, at most those plus the
 * indeterminate ones (a failed bump never counts). A lost, a doubled and a
 * failed-but-landed point write each break the bounds.
 */
import { certain, countersOf, type History, opsOf, type Violation } from '../history.ts'

export function checkCounters(h: History): Violation[] {
  const out: Violation[] = []
  for (const seg of h.segments) {
    if (!seg.final) continue
    // A segment that starts from nothing starts from the schema's zeros.
    const initial = countersOf(seg.initial)
    const final = countersOf(seg.final)
    for (const [id, n] of final) {
      let low = 0
      let high = 0
      const touching: number[] = []
      for (const o of opsOf(h, seg.index)) {
        if (!o.bumps?.includes(id)) continue
        touching.push(o.id)
        if (!certain(o, seg.index)) high++
        else if (o.status === 'ok') {
          low++
          high++
        }
      }
      const grew = n - (initial.get(id) ?? 0)
      if (grew < low || grew > high)
        out.push({
          checker: 'counters',
          message: `segment ${seg.index}: counter ${id} grew by ${grew}, expected ${low === high ? low : `${low} to ${high}`} (acknowledged bumps${high > low ? ' plus indeterminate ones' : ''})`,
          ops: touching,
        })
    }
  }
  return out
}
