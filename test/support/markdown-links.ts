/**
 * Checks the relative links of Markdown files: each must stay inside the
 * repository, point at a tracked file or folder, and, when it names a heading
 * (`#fragment`) of a Markdown file, at a heading that exists (GitHub's slugs).
 * Links with a scheme (https:, mailto:) are not checked.
 */
import { dirname, join, normalize, relative, sep } from 'node:path'
import GithubSlugger from 'github-slugger'
import MarkdownIt, { type Token } from 'markdown-it'

const md = new MarkdownIt({ html: true })

/** A Markdown document of the repository: its path relative to the root, and its text. */
export interface Doc {
  path: string
  text: string
}

export interface LinkProblem {
  /** `path:line` of the link. */
  where: string
  link: string
  problem: string
}

/** The plain text of an inline token, as GitHub renders it for a heading's slug. */
function plainText(inline: Token): string {
  return (inline.children ?? [])
    .filter((t) => t.type === 'text' || t.type === 'code_inline')
    .map((t) => t.content)
    .join('')
}

/** The anchors of a document's headings, as GitHub generates them. */
export function headingAnchors(text: string): Set<string> {
  const slugger = new GithubSlugger()
  const anchors = new Set<string>()
  const tokens = md.parse(text, {})
  tokens.forEach((t, i) => {
    const inline = tokens[i + 1]
    if (t.type === 'heading_open' && inline) anchors.add(slugger.slug(plainText(inline)))
  })
  return anchors
}

/** Every link and image target of a document, with its line number. */
export function linksOf(text: string): { link: string; line: number }[] {
  const out: { link: string; line: number }[] = []
  for (const block of md.parse(text, {})) {
    if (block.type !== 'inline') continue
    const line = (block.map?.[0] ?? 0) + 1
    for (const t of block.children ?? []) {
      const target =
        t.type === 'link_open' ? t.attrGet('href') : t.type === 'image' ? t.attrGet('src') : null
      if (target !== null) out.push({ link: String(target), line })
    }
  }
  return out
}

/**
 * The problems of the relative links in `docs`. `tracked` holds every tracked
 * file (paths relative to the repository root, `/`-separated).
 */
export function checkLinks(docs: Doc[], tracked: ReadonlySet<string>): LinkProblem[] {
  const folders = new Set<string>()
  for (const file of tracked) {
    for (let d = dirname(file); d !== '.' && !folders.has(d); d = dirname(d)) folders.add(d)
  }
  const texts = new Map(docs.map((d) => [d.path, d.text]))
  const anchorCache = new Map<string, Set<string>>()
  const anchorsOf = (path: string) => {
    let anchors = anchorCache.get(path)
    if (!anchors) {
      anchors = headingAnchors(texts.get(path) ?? '')
      anchorCache.set(path, anchors)
    }
    return anchors
  }
  const problems: LinkProblem[] = []
  for (const doc of docs) {
    for (const { link, line } of linksOf(doc.text)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(link) || link.startsWith('//')) continue
      const report = (problem: string) =>
        problems.push({ where: `${doc.path}:${line}`, link, problem })
      const hash = link.indexOf('#')
      const pathPart = decodeURI(hash === -1 ? link : link.slice(0, hash))
      const fragment = hash === -1 ? undefined : decodeURIComponent(link.slice(hash + 1))
      let target = doc.path
      if (pathPart !== '') {
        const joined = pathPart.startsWith('/')
          ? pathPart.slice(1)
          : join(dirname(doc.path), pathPart)
        const rel = normalize(joined).split(sep).join('/').replace(/\/$/, '')
        if (rel === '..' || rel.startsWith('../') || relative('.', rel).startsWith('..')) {
          report('leaves the repository')
          continue
        }
        target = rel === '' ? '.' : rel
        if (!tracked.has(target) && !folders.has(target) && target !== '.') {
          report('points at nothing tracked in the repository')
          continue
        }
      }
      if (fragment !== undefined && fragment !== '' && target.endsWith('.md')) {
        if (!texts.has(target))
          report(`cannot check the heading: ${target} is not a tracked Markdown file`)
        else if (!anchorsOf(target).has(fragment)) report(`${target} has no heading #${fragment}`)
      }
    }
  }
  return problems
}
