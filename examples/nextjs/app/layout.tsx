import type { Metadata } from 'next'
import type { ReactNode } from 'react'
import './globals.css'

export const metadata: Metadata = {
  title: 's3db idea board',
  description: 'A shared idea board on SQLite in S3: Next.js server actions on s3db',
  icons: { icon: { url: '/favicon.ico', type: 'image/svg+xml' } },
}

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}
