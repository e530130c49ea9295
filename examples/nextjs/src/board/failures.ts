/**
 * What to tell a user when a read or a write failed, and whether their change
 * was saved. s3db's errors carry a stable `code`; every failed `update` other
 * than CommitIndeterminate applied nothing (docs/GUARANTEES.md), so "not
 * saved" is a promise the app can make.
 */

export interface Failure {
  /** One or two sentences for the page. */
  message: string
  /** Whether the change the user asked for was saved. */
  saved: 'no' | 'unknown'
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code
  return typeof code === 'string' ? code : undefined
}

/**
 * `change` names what the user tried, capitalised ("Your idea", "Your vote");
 * undefined for a page that only reads.
 */
export function describeFailure(err: unknown, change?: string): Failure {
  const notSaved = change ? `${change} was not saved. ` : ''
  switch (codeOf(err)) {
    case 'StoreUnavailable':
      return {
        message: `The database store is not answering right now. ${notSaved}Try again in a moment.`,
        saved: 'no',
      }
    case 'WriteConflict':
      return {
        message: `Too many people were writing at the same moment. ${notSaved}Try again.`,
        saved: 'no',
      }
    case 'CommitIndeterminate':
      return {
        message: `The store stopped answering while saving, so ${change ? change.toLowerCase() : 'the change'} may or may not have been saved. Reload the page to check before trying again.`,
        saved: 'unknown',
      }
    case 'LocalCacheLocked':
      return {
        message: `This server process cannot open its copy of the database: another process is using the same local replica file. ${notSaved}Whoever runs the server must give each server process its own localPath (S3DB_LOCAL_PATH).`,
        saved: 'no',
      }
    case 'AccessDenied':
    case 'BucketNotFound':
      return {
        message: `This server is not allowed to use its database store, or the bucket does not exist. ${notSaved}Whoever runs the server must fix its store settings (S3DB_URL and the AWS credentials).`,
        saved: 'no',
      }
    case 'SchemaTooNew':
      return {
        message: `The database was migrated by a newer version of this app. ${notSaved}Whoever runs the server must deploy the new version.`,
        saved: 'no',
      }
    default:
      return {
        message: `Something went wrong on the server. ${notSaved}Try again; if it keeps failing, the server log says why.`,
        saved: 'no',
      }
  }
}
