/** In-process tests of the CLI's parsers and printers. */
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { parseDuration } from '../src/duration.js'
import { formatError, redact, UsageError } from '../src/errors.js'
import { csv, table, toJson } from '../src/output.js'
import { splitSql, statementsOf, txControl } from '../src/sql-split.js'
import { usePathStyle } from '../src/store.js'
import { closest, editDistance } from '../src/suggest.js'
import { parseTarget } from '../src/target.js'

describe('parseTarget', () => {
  it('parses s3 URLs, adding the trailing slash', () => {
    expect(parseTarget('s3://bucket-1/app/db')).toEqual({
      kind: 's3',
      bucket: 'bucket-1',
      prefix: 'app/db/',
      display: 's3://bucket-1/app/db/',
    })
  })

  it('splits plain paths at the last segment, or at an explicit //', () => {
    expect(parseTarget('./data/mydb')).toMatchObject({
      kind: 'file',
      root: resolve('data'),
      prefix: 'mydb/',
    })
    expect(parseTarget('/srv/root//app/db/')).toMatchObject({
      kind: 'file',
      root: '/srv/root',
      prefix: 'app/db/',
      display: 'file:///srv/root//app/db/',
    })
    expect(parseTarget('file:///srv/x/db/')).toMatchObject({
      root: '/srv/x',
      prefix: 'db/',
      display: 'file:///srv/x/db/',
    })
    expect(parseTarget('file:///srv/da%20ta/db')).toMatchObject({ root: '/srv/da ta' })
  })

  it('rejects prefix-less, malformed and foreign targets as usage errors', () => {
    for (const bad of [
      '',
      's3://b',
      's3://bucket',
      's3://bucket/',
      's3://ab/x',
      's3://a..b/x',
      '/',
      'http://x/y',
      'file://host/x',
    ]) {
      expect(() => parseTarget(bad), bad).toThrow(UsageError)
    }
  })
})

describe('parseDuration', () => {
  it('accepts units and 0', () => {
    expect(parseDuration('0', '--grace', 'gc')).toBe(0)
    expect(parseDuration('30s', '--grace', 'gc')).toBe(30_000)
    expect(parseDuration('5m', '--grace', 'gc')).toBe(300_000)
    expect(parseDuration('1.5h', '--grace', 'gc')).toBe(5_400_000)
    expect(parseDuration('250ms', '--grace', 'gc')).toBe(250)
  })
  it('rejects numbers without unit and garbage', () => {
    for (const bad of ['10', '-1s', '5 minutes', 'm']) {
      expect(() => parseDuration(bad, '--grace', 'gc'), bad).toThrow(UsageError)
    }
  })
})

describe('splitSql', () => {
  it('splits at top-level semicolons only', () => {
    expect(
      statementsOf(`SELECT ';' AS a; SELECT "x;y" FROM [t;u] -- c;\n; /* ; */ SELECT 3`),
    ).toEqual([`SELECT ';' AS a`, `SELECT "x;y" FROM [t;u] -- c;`, '/* ; */ SELECT 3'])
  })
  it('keeps a trigger body whole, including CASE ... END', () => {
    const trigger =
      "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET v = CASE WHEN 1 THEN 'a;' END; DELETE FROM u; END"
    expect(statementsOf(`${trigger}; SELECT 1;`)).toEqual([trigger, 'SELECT 1'])
  })
  it('reports unfinished input as rest', () => {
    expect(splitSql("SELECT 1; SELECT 'open")).toEqual({
      statements: ['SELECT 1'],
      rest: " SELECT 'open",
    })
    expect(splitSql('SELECT 1;\n').rest.trim()).toBe('')
  })
  it('recognises transaction control but not savepoints', () => {
    expect(txControl('BEGIN')).toBe('begin')
    expect(txControl('begin immediate transaction')).toBe('begin')
    expect(txControl('END')).toBe('commit')
    expect(txControl('rollback')).toBe('rollback')
    expect(txControl('ROLLBACK TO sp1')).toBeUndefined()
    expect(txControl('SELECT 1')).toBeUndefined()
  })
})

describe('printers', () => {
  it('draws tables with NULL and blob values', () => {
    expect(table(['a', 'b'], [[null, Buffer.from([1, 255])]])).toBe(
      "+------+---------+\n| a    | b       |\n+------+---------+\n| NULL | X'01ff' |\n+------+---------+\n",
    )
  })
  it('quotes CSV fields per RFC 4180', () => {
    expect(csv(['x'], [['a,b'], ['say "hi"'], [null], ['line\nbreak']])).toBe(
      'x\r\n"a,b"\r\n"say ""hi"""\r\n\r\n"line\nbreak"\r\n',
    )
  })
  it('prints BigInt and blobs in JSON', () => {
    expect(toJson({ a: 5n, b: 2n ** 64n, c: Buffer.from('hi') }, false)).toBe(
      '{"a":5,"b":"18446744073709551616","c":"6869"}',
    )
  })
})

describe('suggestions', () => {
  it('counts a swap of two letters as one edit', () => {
    expect(editDistance('jsno', 'json')).toBe(1)
    expect(editDistance('json', 'json')).toBe(0)
    expect(editDistance('', 'abc')).toBe(3)
  })
  it('suggests the close name, an abbreviation, or nothing', () => {
    const options = ['json', 'dry-run', 'grace', 'min-age', 'help', 'debug']
    expect(closest('jsn', options)).toBe('json')
    expect(closest('dryrun', options)).toBe('dry-run')
    expect(closest('Grace', options)).toBe('grace')
    expect(closest('min', options)).toBe('min-age')
    expect(closest('frobnicate', options)).toBeUndefined()
    expect(closest('x', options)).toBeUndefined()
    expect(closest('stauts', ['status', 'sql', 'shell'])).toBe('status')
  })
})

describe('errors and environment', () => {
  it('redacts credentials from anything printed', () => {
    const env = { AWS_SECRET_ACCESS_KEY: 'sekrit-value', AWS_ACCESS_KEY_ID: 'AKIAXYZ' }
    expect(redact('key AKIAXYZ secret sekrit-value', env)).toBe('key [redacted] secret [redacted]')
    expect(redact('<AWSAccessKeyId>AKIAXYZ</AWSAccessKeyId>', env)).toBe(
      '<AWSAccessKeyId>[redacted]</AWSAccessKeyId>',
    )
    expect(redact('Credential=AKIAXYZ/20260101/us-east-1/s3/aws4_request', env)).toBe(
      'Credential=[redacted]/20260101/us-east-1/s3/aws4_request',
    )
    expect(redact('AWS_SECRET_ACCESS_KEY=sekrit-value.', env)).toBe(
      'AWS_SECRET_ACCESS_KEY=[redacted].',
    )
    // Secrets are base64: '/' and '+' are part of them.
    const slashy = { AWS_SECRET_ACCESS_KEY: 'wJalr/K7MDENG+bPxRfi' }
    expect(redact('secret "wJalr/K7MDENG+bPxRfi" refused', slashy)).toBe(
      'secret "[redacted]" refused',
    )
  })
  it('leaves a key alone where it is only part of a longer name, as in a path', () => {
    const env = { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'minioadmin' }
    for (const text of [
      'directory /tmp/s3db-cli-test-x1/db does not exist',
      'no database at file:///srv/minioadmin/data//db/',
      'cannot read ./test.sqlite',
      'bucket "test-bucket" does not exist',
      'user minioadmin2 unknown',
    ]) {
      expect(redact(text, env)).toBe(text)
    }
  })
  it('formats an error as one line plus a hint, and usage errors with --help', () => {
    expect(formatError(new UsageError('bad', 'gc'), false)).toBe(
      "s3db: error: bad\nRun 's3db gc --help' for usage.\n",
    )
    expect(formatError(new Error('multi\nline'), false)).toBe('s3db: error: multi line\n')
  })
  it('turns path-style on with a custom endpoint unless told otherwise', () => {
    expect(usePathStyle({}, {})).toBe(false)
    expect(usePathStyle({}, { AWS_ENDPOINT_URL: 'http://minio:9000' })).toBe(true)
    expect(usePathStyle({}, { AWS_ENDPOINT_URL: 'http://x', S3DB_S3_PATH_STYLE: '0' })).toBe(false)
    expect(usePathStyle({ pathStyle: true }, {})).toBe(true)
    expect(usePathStyle({}, { S3DB_S3_PATH_STYLE: '1' })).toBe(true)
  })
})
