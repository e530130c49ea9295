/**
 * /favicon.ico, which browsers ask for on every site: a small SVG (a light
 * bulb: ideas), served with its own content type and linked from the layout,
 * so it is written as text here rather than kept as a binary .ico file.
 */
const ICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">
<circle cx="16" cy="13" r="10" fill="#f5c518" stroke="#1d1d1f" stroke-width="2"/>
<rect x="11" y="22" width="10" height="6" rx="2" fill="#6b6b70" stroke="#1d1d1f" stroke-width="2"/>
</svg>
`

export const dynamic = 'force-static'

export function GET(): Response {
  return new Response(ICON, {
    headers: {
      'content-type': 'image/svg+xml',
      'cache-control': 'public, max-age=86400',
    },
  })
}
