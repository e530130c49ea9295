import { describe, expect, it } from 'vitest'
import { isS3dbError } from '../../src/errors.js'
import {
  appendLog,
  DatabaseKeys,
  epochOf,
  MAX_INLINE_BYTES,
  MAX_INLINE_TOTAL,
  MAX_MANIFEST_BYTES,
  nextSeq,
  parseManifest,
  serializeManifest,
} from '../../src/format/manifest.js'
import { validateDatabasePrefix } from '../../src/format/prefix.js'

const P = 'app/db/'
const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v))
const valid = {
  format_version: 1,
  seq: 149,
  schema_version: 3,
  snapshot: { key: `${P}snapshots/snap-147.sqlite`, seq: 147, size: 40960 },
  log: [
    { key: `${P}changesets/snap-147/cs-a.bin`, seq: 148, size: 211 },
    { key: `${P}changesets/snap-147/cs-b.bin`, seq: 149, size: 96 },
  ],
}

function codeOf(fn: () => unknown): string {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return isS3dbError(err) ? err.code : String(err)
  }
}

describe('manifest', () => {
  it('parses the FORMAT.md example and round-trips it byte-compatibly', () => {
    const m = parseManifest(enc(valid), 'k', P)
    expect(m).toMatchObject({ formatVersion: 1, seq: 149, schemaVersion: 3 })
    expect(m.log.map((e) => e.seq)).toEqual([148, 149])
    expect(JSON.parse(new TextDecoder().decode(serializeManifest(m)))).toEqual(valid)
  })

  it('accepts what the Go client writes: no format_version, null log, no sizes, unknown fields', () => {
    const go = {
      seq: 0,
      schema_version: 0,
      snapshot: { key: `${P}snapshots/snap-init.sqlite`, seq: 0 },
      log: null,
      extra: 1,
    }
    const m = parseManifest(enc(go), 'k', P)
    expect(m).toMatchObject({ formatVersion: 1, seq: 0, log: [], snapshot: { size: 0 } })
    // Unknown fields are not preserved (as the Go writer does).
    expect(JSON.parse(new TextDecoder().decode(serializeManifest(m)))).not.toHaveProperty('extra')
  })

  it('rejects a newer format_version with FormatTooNew', () => {
    expect(codeOf(() => parseManifest(enc({ ...valid, format_version: 2 }), 'k', P))).toBe(
      'FormatTooNew',
    )
  })

  it.each([
    ['not JSON', '{"seq": 1,'],
    ['not an object', '[1,2]'],
    ['invalid UTF-8', new Uint8Array([0x7b, 0xff, 0x7d])],
    ['negative seq', { ...valid, seq: -1 }],
    ['fractional seq', { ...valid, seq: 1.5 }],
    ['string seq', { ...valid, seq: '149' }],
    ['missing snapshot', { ...valid, snapshot: undefined }],
    ['empty snapshot key', { ...valid, snapshot: { key: '', seq: 147 } }],
    ['log not an array', { ...valid, log: {} }],
    ['gap in the log', { ...valid, log: [valid.log[1]], seq: 149 }],
    ['seq not matching the log', { ...valid, seq: 150 }],
    ['empty log key', { ...valid, log: [{ key: '', seq: 148 }, valid.log[1]] }],
    [
      'key outside the prefix',
      { ...valid, snapshot: { key: 'other/snapshots/snap.sqlite', seq: 147 } },
    ],
    ['key escaping the prefix', { ...valid, snapshot: { key: `${P}../evil.sqlite`, seq: 147 } }],
    ['key with a backslash', { ...valid, snapshot: { key: `${P}snapshots\\x.sqlite`, seq: 147 } }],
    [
      'key with an empty segment',
      { ...valid, snapshot: { key: `${P}snapshots//x.sqlite`, seq: 147 } },
    ],
    ['negative schema_version', { ...valid, schema_version: -2 }],
    [
      'a snapshot key in a nested database',
      { ...valid, snapshot: { key: `${P}inner/snapshots/snap-1.sqlite`, seq: 147 } },
    ],
    [
      "a user's file under the prefix as the snapshot",
      { ...valid, snapshot: { key: `${P}precious.sqlite`, seq: 147 } },
    ],
    [
      'a changeset key as the snapshot',
      { ...valid, snapshot: { key: `${P}changesets/snap-147/cs-a.bin`, seq: 147 } },
    ],
    [
      'a log key in a nested database',
      { ...valid, log: [{ key: `${P}inner/changesets/e/cs-a.bin`, seq: 148 }, valid.log[1]] },
    ],
    [
      'a log key outside an epoch folder',
      { ...valid, log: [{ key: `${P}changesets/cs-a.bin`, seq: 148 }, valid.log[1]] },
    ],
    ['the same log key twice', { ...valid, log: [valid.log[0], { ...valid.log[0], seq: 149 }] }],
    [
      'a size larger than any SQLite file',
      { ...valid, snapshot: { ...valid.snapshot, size: 1e15 } },
    ],
  ])('rejects a manifest with %s as Corrupt', (_name, value) => {
    const bytes = value instanceof Uint8Array ? value : enc(value)
    expect(codeOf(() => parseManifest(bytes, 'k', P))).toBe('Corrupt')
  })

  it('rejects a huge manifest without parsing it', () => {
    const huge = new Uint8Array(MAX_MANIFEST_BYTES + 1)
    expect(codeOf(() => parseManifest(huge, 'k', P))).toBe('Corrupt')
  })

  it('accepts the largest size SQLite can make, and a seq of 2^53 - 1', () => {
    const max = Number.MAX_SAFE_INTEGER
    const m = parseManifest(
      enc({
        seq: max,
        snapshot: { ...valid.snapshot, seq: max - 1, size: 4294967294 * 65536 },
        log: [{ ...valid.log[0], seq: max }],
      }),
      'k',
      P,
    )
    expect(m.seq).toBe(max)
  })

  it('refuses the seq after 2^53 - 1, which no client could read back', () => {
    const m = parseManifest(enc(valid), 'k', P)
    expect(nextSeq(m)).toBe(150)
    const last = { ...m, seq: Number.MAX_SAFE_INTEGER }
    expect(codeOf(() => nextSeq(last))).toBe('Corrupt')
    expect(
      codeOf(() => appendLog(last, `${P}changesets/snap-147/cs-c.bin`, new Uint8Array(1))),
    ).toBe('Corrupt')
  })

  it('refuses to serialise a manifest no client would read (ManifestTooLarge)', () => {
    const m = parseManifest(enc(valid), 'k', P)
    const key = (i: number) => `${P}changesets/snap-147/cs-${String(i).padStart(60, '0')}.bin`
    const log = Array.from({ length: 100_000 }, (_, i) => ({ key: key(i), seq: 148 + i, size: 1 }))
    expect(codeOf(() => serializeManifest({ ...m, seq: 148 + log.length - 1, log }))).toBe(
      'ManifestTooLarge',
    )
  })

  it('appends log entries with consecutive seqs and derives epochs', () => {
    const big = new Uint8Array(MAX_INLINE_BYTES + 1)
    const m = appendLog(parseManifest(enc(valid), 'k', P), `${P}changesets/snap-147/cs-c.bin`, big)
    expect(m.seq).toBe(150)
    expect(m.log.at(-1)).toEqual({
      key: `${P}changesets/snap-147/cs-c.bin`,
      seq: 150,
      size: MAX_INLINE_BYTES + 1,
    })
    expect(epochOf(`${P}snapshots/snap-147.sqlite`)).toBe('snap-147')
  })

  it('carries the newest small changesets inline (16 KiB in all), checked against their sizes on read', () => {
    const bytes = new Uint8Array([84, 1, 2, 3, 4])
    const base = parseManifest(enc(valid), 'k', P)
    const one = appendLog(base, `${P}changesets/snap-147/cs-c.bin`, bytes)
    const two = appendLog(one, `${P}changesets/snap-147/cs-d.bin`, bytes.subarray(1))
    const read = parseManifest(serializeManifest(two), 'k', P)
    // The newest entries keep their bytes; they round-trip.
    expect(read.log.at(-2)?.data).toEqual(bytes)
    expect(read.log.at(-1)?.data).toEqual(bytes.subarray(1))
    // Within MAX_INLINE_TOTAL in all: older entries drop theirs first.
    const full = new Uint8Array(MAX_INLINE_BYTES)
    const fit = MAX_INLINE_TOTAL / MAX_INLINE_BYTES
    let m = two
    for (let i = 0; i < fit; i++) m = appendLog(m, `${P}changesets/snap-147/cs-f${i}.bin`, full)
    const inline = parseManifest(serializeManifest(m), 'k', P).log.map((e) => e.data?.byteLength)
    expect(inline.slice(-fit - 2)).toEqual([undefined, undefined, ...Array(fit).fill(full.length)])
    // Damaged data is ignored (the object is read instead), never trusted.
    const raw = JSON.parse(new TextDecoder().decode(serializeManifest(two)))
    const last = raw.log.at(-1)
    for (const data of ['AQID', 'AQIDBA=', '!!!!', 42, 'AQIDBAU=']) {
      last.data = data
      expect(parseManifest(enc(raw), 'k', P).log.at(-1)?.data, String(data)).toBeUndefined()
    }
    last.data = 'AQIDBA=='
    expect(parseManifest(enc(raw), 'k', P).log.at(-1)?.data).toEqual(new Uint8Array([1, 2, 3, 4]))
  })
})

describe('database prefix', () => {
  it.each(['db/', 'app/db/', 'a-b_c.d/e/'])('accepts %s', (p) => {
    expect(codeOf(() => validateDatabasePrefix(p))).toBe('ok')
  })
  it.each([
    '',
    'db',
    '/db/',
    'a/../b/',
    'a//b/',
    './db/',
    '../db/',
    'a\0b/',
    'a\\b/',
    `${'x'.repeat(600)}/`,
  ])('rejects %j', (p) => {
    expect(codeOf(() => validateDatabasePrefix(p))).toBe('InvalidArgument')
  })

  it('tells the objects s3db names (what gc may delete) from anything else under the prefix', () => {
    const keys = new DatabaseKeys(P)
    expect(keys.isDataObject(keys.snapshot('01ABC'))).toBe(true)
    expect(keys.isDataObject(keys.changeset('snap-01ABC', '01DEF'))).toBe(true)
    expect(keys.isSnapshot(keys.snapshot('01ABC'))).toBe(true)
    expect(keys.isSnapshot(keys.changeset('snap-01ABC', '01DEF'))).toBe(false)
    expect(keys.isChangeset(keys.changeset('snap-01ABC', '01DEF'))).toBe(true)
    expect(keys.isChangeset(keys.snapshot('01ABC'))).toBe(false)
    // Every data key of a database nested anywhere under P has more segments.
    const nestedPrefixes = ['inner/', 'snapshots/', 'changesets/', 'changesets/snap-1/']
    const nested = nestedPrefixes.flatMap((n) => {
      const inner = new DatabaseKeys(`${P}${n}`)
      return [inner.manifest, inner.snapshot('1'), inner.changeset('snap-1', '2')]
    })
    for (const other of [
      keys.manifest,
      `${P}snapshots/readme.txt`,
      `${P}changesets/cs-loose.bin`,
      `${P}_s3db_check/x`,
      `${P}precious.sqlite`,
      'other/snapshots/snap-1.sqlite',
      ...nested,
    ]) {
      expect(keys.isDataObject(other), other).toBe(false)
    }
  })
})
