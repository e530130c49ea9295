/**
 * Runs once when a server process starts: open the database and apply the
 * Drizzle migrations before the first request, so a broken store or migration
 * shows up in the log at once instead of on a user's first click.
 */
export async function register(): Promise<void> {
  // Only in the Node.js server runtime (s3db needs native modules), and not
  // while `next build` collects pages.
  if (process.env.NEXT_RUNTIME !== 'nodejs') return
  if (process.env.NEXT_PHASE === 'phase-production-build') return
  const { getDb } = await import('./src/db')
  try {
    await getDb()
  } catch (err) {
    // Requests retry the open; keep the server up so they can.
    console.error('s3db: could not open the database on start:', err)
  }
}
