/**
 * Every tracked Markdown file: no relative link leaves the repository or points at
 * nothing (README once linked ../shared/FORMAT.md, which only exists next to one
 * developer's checkout), and links to a heading find it.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkLinks, type Doc } from '../support/markdown-links.js'

const ROOT = join(import.meta.dirname, '../..')

function trackedFiles(): Set<string> {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' })
  return new Set(out.split('\0').filter(Boolean))
}

describe('Markdown links', () => {
  it('of every tracked Markdown file stay in the repository and point at something', () => {
    const tracked = trackedFiles()
    const docs: Doc[] = [...tracked]
      .filter((f) => f.endsWith('.md'))
      .map((path) => ({ path, text: readFileSync(join(ROOT, path), 'utf8') }))
    expect(docs.length).toBeGreaterThanOrEqual(10)
    expect(checkLinks(docs, tracked)).toEqual([])
  })

  it('the check finds a link out of the repository, to a missing file and to a missing heading', () => {
    const tracked = new Set(['README.md', 'docs/A.md', 'src/x.ts'])
    const docs: Doc[] = [
      {
        path: 'README.md',
        text: [
          '# Title',
          '## Quick start (`@s3db/core`)',
          'See [format](../shared/FORMAT.md), [a](docs/A.md#intro), [b](docs/B.md),',
          '[code](src/x.ts), [folder](src), [up](docs/../README.md#quick-start-s3dbcore),',
          '[web](https://example.com/x), [self](#title), [gone](#nope).',
          '`[not a link](nowhere.md)` and',
          '```',
          '[not a link either](nowhere.md)',
          '```',
        ].join('\n'),
      },
      {
        path: 'docs/A.md',
        text: '# A\n\nBack to [the readme](../README.md) and [root](/src/x.ts).\n',
      },
    ]
    expect(checkLinks(docs, tracked)).toEqual([
      { where: 'README.md:3', link: '../shared/FORMAT.md', problem: 'leaves the repository' },
      { where: 'README.md:3', link: 'docs/A.md#intro', problem: 'docs/A.md has no heading #intro' },
      {
        where: 'README.md:3',
        link: 'docs/B.md',
        problem: 'points at nothing tracked in the repository',
      },
      { where: 'README.md:3', link: '#nope', problem: 'README.md has no heading #nope' },
    ])
  })
})
