/**
 * Submitting a page's forms the way a browser without JavaScript does: every
 * field the server rendered (React's hidden $ACTION_* fields included) plus the
 * user's input, as multipart/form-data, to the page's URL. That is a real server
 * action invocation, with no knowledge of Next.js internals beyond the HTML.
 */

export interface HtmlForm {
  /** The form's own HTML, for matching. */
  html: string
  /** Hidden and pre-filled fields, in document order. */
  fields: Array<[string, string]>
}

const ENTITIES: Record<string, string> = {
  amp: '&',
  quot: '"',
  lt: '<',
  gt: '>',
  '#39': "'",
  '#x27': "'",
}

function decode(text: string): string {
  return text.replace(/&(amp|quot|lt|gt|#39|#x27);/g, (_m, name: string) => ENTITIES[name]!)
}

function attr(tag: string, name: string): string | undefined {
  const m = new RegExp(`\\s${name}="([^"]*)"`).exec(tag)
  return m ? decode(m[1]!) : undefined
}

/** The forms of a page (server-rendered forms have no nested forms). */
export function parseForms(page: string): HtmlForm[] {
  return [...page.matchAll(/<form\b[^>]*>([\s\S]*?)<\/form>/g)].map((m) => ({
    html: m[0],
    fields: [...m[1]!.matchAll(/<input\b[^>]*>/g)]
      .map((i) => [attr(i[0], 'name'), attr(i[0], 'value') ?? ''] as const)
      .filter((f): f is [string, string] => f[0] !== undefined),
  }))
}

/** The one form whose HTML contains `marker` (e.g. an aria-label), or an error. */
export function findForm(page: string, marker: string): HtmlForm {
  const found = parseForms(page).filter((f) => f.html.includes(marker))
  if (found.length !== 1)
    throw new Error(`expected one form containing ${marker}, found ${found.length}`)
  return found[0]!
}

/** Posts the form with `input` overriding or adding fields; resolves with the response. */
export async function submitForm(
  url: string,
  form: HtmlForm,
  input: Record<string, string> = {},
  headers: Record<string, string> = {},
): Promise<Response> {
  const body = new FormData()
  const given = new Set(Object.keys(input))
  for (const [name, value] of form.fields) if (!given.has(name)) body.append(name, value)
  for (const [name, value] of Object.entries(input)) body.append(name, value)
  return fetch(url, { method: 'POST', body, headers, redirect: 'manual' })
}
