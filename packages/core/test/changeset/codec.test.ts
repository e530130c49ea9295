import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  type Changeset,
  decodeChangeset,
  encodeChangeset,
  type Field,
  type InsertChange,
  RawText,
  type UpdateChange,
  type Value,
} from '../../src/changeset/index.js'
import { readVarint, varintSize, writeVarint } from '../../src/changeset/varint.js'
import { CorruptError, InvalidArgumentError } from '../../src/errors.js'

const hex = (s: string) => Buffer.from(s.replaceAll(' ', ''), 'hex')

/** A changeset covering every value type, two tables, a composite key, all three ops. */
const SAMPLE: Changeset = {
  tables: [
    {
      name: 't',
      pk: [2, 1, 0],
      changes: [
        { op: 'INSERT', indirect: false, new: [1n, 'x', null] },
        { op: 'DELETE', indirect: true, old: [-(2n ** 63n), '', Buffer.alloc(0)] },
        { op: 'UPDATE', indirect: false, old: [2n, 'k', 1.5], new: [undefined, undefined, -0] },
      ],
    },
    {
      name: 'ü',
      pk: [1],
      changes: [
        { op: 'INSERT', indirect: false, new: [Number.POSITIVE_INFINITY] },
        { op: 'INSERT', indirect: false, new: [new RawText(hex('ff00c080'))] },
        { op: 'INSERT', indirect: false, new: [Buffer.from([0xff, 0])] },
        { op: 'INSERT', indirect: false, new: [2n ** 63n - 1n] },
      ],
    },
  ],
}

function expectCorrupt(bytes: Uint8Array, what?: RegExp): void {
  let err: unknown
  try {
    decodeChangeset(bytes)
  } catch (e) {
    err = e
  }
  expect(err, `decoding ${Buffer.from(bytes).toString('hex')}`).toBeInstanceOf(CorruptError)
  if (what) expect((err as Error).message).toMatch(what)
}

describe('varint', () => {
  it('round-trips and matches SQLite encodings', () => {
    const cases: [number, string][] = [
      [0, '00'],
      [127, '7f'],
      [128, '8100'],
      [16383, 'ff7f'],
      [16384, '818000'],
      [2 ** 32, '9080808000'],
    ]
    for (const [n, h] of cases) {
      const buf = new Uint8Array(9)
      const end = writeVarint(buf, 0, n)
      expect(Buffer.from(buf.subarray(0, end)).toString('hex')).toBe(h)
      expect(varintSize(n)).toBe(end)
      const cur = { pos: 0 }
      expect(readVarint(buf, cur, end)).toBe(n)
      expect(cur.pos).toBe(end)
    }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), (n) => {
        const buf = new Uint8Array(9)
        const end = writeVarint(buf, 0, n)
        const cur = { pos: 0 }
        return readVarint(buf, cur, end) === n && cur.pos === end
      }),
    )
  })

  it('reports truncation and reads the 9-byte form', () => {
    expect(readVarint(hex('8080'), { pos: 0 }, 2)).toBe(-1)
    // Nine bytes: 8 x 7 bits + 8 bits = 64 bits, far beyond any length: Infinity.
    expect(readVarint(hex('ffffffffffffffffff'), { pos: 0 }, 9)).toBe(Number.POSITIVE_INFINITY)
  })
})

describe('codec', () => {
  it('encodes the documented layout byte for byte', () => {
    const bytes = encodeChangeset({
      tables: [
        {
          name: 't',
          pk: [2, 1, 0],
          changes: [{ op: 'INSERT', indirect: false, new: [1n, 'ab', null] }],
        },
      ],
    })
    expect(Buffer.from(bytes).toString('hex')).toBe(
      // T, 3 columns, PK ordinals 02 01 00, "t\0"; INSERT, direct; int 1, text "ab", NULL
      '54 03 020100 7400 12 00 01 0000000000000001 03 02 6162 05'.replaceAll(' ', ''),
    )
  })

  it('round-trips every value type, both tables, all ops', () => {
    const bytes = encodeChangeset(SAMPLE)
    const back = decodeChangeset(bytes)
    expect(back).toEqual(SAMPLE)
    expect(Object.is((back.tables[0]!.changes[2] as UpdateChange).new[2], -0)).toBe(true)
    expect(encodeChangeset(back)).toEqual(bytes)
  })

  it('keeps text as bytes exactly: invalid UTF-8 as RawText, valid as string', () => {
    const cs = decodeChangeset(hex('5401017400 1200 0302ff41 1200 0303efbbbf'.replaceAll(' ', '')))
    const [a, b] = cs.tables[0]!.changes.map((c) => (c as InsertChange).new[0])
    expect(a).toBeInstanceOf(RawText)
    expect(Buffer.from((a as RawText).bytes).toString('hex')).toBe('ff41')
    expect(b).toBe('\uFEFF') // a BOM is data, not stripped
  })

  it('round-trips arbitrary changesets (property)', () => {
    const value: fc.Arbitrary<Value> = fc.oneof(
      fc.constant(null),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.double(),
      fc.string({ unit: 'grapheme' }),
      fc.uint8Array({ maxLength: 20 }),
      fc
        .uint8Array({ minLength: 1, maxLength: 8 })
        .map((b) => new RawText(Buffer.concat([Buffer.from([0xff]), b]))),
    )
    // Column 0 is the key; UPDATEs change at least one other column, as SQLite's do.
    const table = fc.integer({ min: 2, max: 5 }).chain((n) =>
      fc.record({
        name: fc.string({ minLength: 1, maxLength: 8 }).filter((s) => !s.includes('\0')),
        pk: fc.constant(Array.from({ length: n }, (_, i) => (i === 0 ? 1 : 0))),
        changes: fc.array(
          fc.oneof(
            fc
              .array(value, { minLength: n, maxLength: n })
              .map((v) => ({ op: 'INSERT' as const, indirect: false, new: v })),
            fc
              .array(value, { minLength: n, maxLength: n })
              .map((v) => ({ op: 'DELETE' as const, indirect: true, old: v })),
            fc.tuple(value, fc.array(value, { minLength: n, maxLength: n })).map(([k, v]) => ({
              op: 'UPDATE' as const,
              indirect: false,
              old: [k, ...v.slice(1)] as Field[],
              new: [undefined, ...v.slice(1)] as Field[],
            })),
          ),
          { maxLength: 5 },
        ),
      }),
    )
    fc.assert(
      fc.property(fc.array(table, { maxLength: 3 }), (tables) => {
        const cs: Changeset = { tables }
        const bytes = encodeChangeset(cs)
        const back = decodeChangeset(bytes)
        expect(encodeChangeset(back)).toEqual(bytes)
        expect(back.tables.length).toBe(tables.length)
      }),
      { numRuns: 300 },
    )
  })

  it('decodes patchsets like SQLite: DELETE keeps only the key, UPDATE has it in old', () => {
    const ps: Changeset = {
      patchset: true,
      tables: [
        {
          name: 't',
          pk: [0, 1, 0],
          changes: [
            { op: 'DELETE', indirect: false, old: [undefined, 7n, undefined] },
            {
              op: 'UPDATE',
              indirect: false,
              old: [undefined, 8n, undefined],
              new: ['a', undefined, undefined],
            },
            { op: 'INSERT', indirect: false, new: [1n, 2n, 3n] },
          ],
        },
      ],
    }
    const bytes = encodeChangeset(ps)
    // DELETE record: just the key (1 value); UPDATE: one record with the key in place
    expect(Buffer.from(bytes).toString('hex')).toBe(
      '50 03 000100 7400 0900 01 0000000000000007 1700 03 01 61 01 0000000000000008 00 1200 01 0000000000000001 01 0000000000000002 01 0000000000000003'.replaceAll(
        ' ',
        '',
      ),
    )
    expect(decodeChangeset(bytes, { patchset: true })).toEqual(ps)
    expectCorrupt(bytes, /patchset table header in a changeset/)
    expect(() => decodeChangeset(encodeChangeset(SAMPLE), { patchset: true })).toThrow(CorruptError)
  })

  it('accepts an empty changeset and a table without changes', () => {
    expect(decodeChangeset(new Uint8Array())).toEqual({ tables: [] })
    expect(decodeChangeset(hex('5401017400'))).toEqual({
      tables: [{ name: 't', pk: [1], changes: [] }],
    })
  })

  describe('rejects malformed input with CorruptError', () => {
    const valid = encodeChangeset(SAMPLE)

    it('every truncation of a valid changeset', () => {
      // A cut exactly between changes is itself a valid (shorter) changeset; any other
      // cut must be reported, never crash or misread.
      let corrupt = 0
      for (let n = 1; n < valid.length; n++) {
        const part = valid.subarray(0, n)
        try {
          const cs = decodeChangeset(part)
          expect(encodeChangeset(cs)).toEqual(Buffer.from(part))
        } catch (e) {
          expect(e).toBeInstanceOf(CorruptError)
          corrupt++
        }
      }
      expect(corrupt).toBeGreaterThan(valid.length - 10)
    })

    it('bad op byte, bad indirect flag, bad value type', () => {
      expectCorrupt(hex('54010174 00 13 00 05'), /unknown op byte 0x13/)
      expectCorrupt(hex('54010174 00 12 02 05'), /invalid indirect flag 2/)
      expectCorrupt(hex('54010174 00 12 00 06'), /unknown value type 6/)
      expectCorrupt(hex('54010174 00 12 00 ff'), /unknown value type 255/)
    })

    it('absurd and overrunning lengths', () => {
      expectCorrupt(hex('54010174 00 12 00 03 05 6162'), /runs past the end/)
      expectCorrupt(hex('54010174 00 12 00 04 ffffffffffffffff7f'), /runs past the end/)
      expectCorrupt(hex('54010174 00 12 00 04 ffffffff'), /truncated length/)
      expectCorrupt(hex('54010174 00 12 00 01 000000'), /truncated integer/)
      expectCorrupt(hex('54010174 00 12 00 02 00'), /truncated real/)
    })

    it('bad table headers', () => {
      expectCorrupt(hex('5400'), /column count 0/)
      expectCorrupt(hex('54 848001'), /column count 65537/) // 65537 > SQLite's 65536
      expectCorrupt(hex('54 ffffffffffffffffff'), /column count/)
      expectCorrupt(hex('5402 01'), /truncated table header/)
      expectCorrupt(hex('5402 0000 7400'), /without PRIMARY KEY/)
      expectCorrupt(hex('5402 0101 7400'), /invalid PRIMARY KEY ordinal 1/)
      expectCorrupt(hex('5402 0300 7400'), /invalid PRIMARY KEY ordinal 3/)
      expectCorrupt(hex('5402 0200 7400'), /skip 1/)
      expectCorrupt(hex('5401 01 7474'), /unterminated table name/)
      expectCorrupt(hex('5401 01 00'), /empty table name/)
      expectCorrupt(hex('5401 01 ff00'), /not UTF-8/)
    })

    it('changes before a table header and trailing garbage', () => {
      expectCorrupt(hex('1200 05'), /before any table header/)
      expectCorrupt(Buffer.concat([valid, hex('00')]), /unknown op byte 0x0/)
      expectCorrupt(Buffer.concat([valid, hex('12')]), /no indirect flag/)
      expectCorrupt(Buffer.concat([valid, hex('1200')]), /truncated record/)
    })

    it('records SQLite could not apply', () => {
      expectCorrupt(hex('54010174 00 12 00 00'), /INSERT with an undefined value/)
      expectCorrupt(hex('54010174 00 09 00 00'), /DELETE with an undefined value/)
      expectCorrupt(hex('5402 0100 7400 1700 00 05 05 05'), /UPDATE without its PRIMARY KEY/)
      expectCorrupt(hex('5402 0100 7400 1700 05 00 00 00'), /UPDATE without new values/)
    })

    it('random bytes: only CorruptError, quickly (property)', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
          try {
            decodeChangeset(bytes)
          } catch (e) {
            if (!(e instanceof CorruptError)) throw e
          }
        }),
        { numRuns: 2000 },
      )
      // Mutations of a valid changeset reach deeper states than random bytes.
      fc.assert(
        fc.property(fc.nat({ max: valid.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, b) => {
          const bytes = Buffer.from(valid)
          bytes[i] = b
          try {
            decodeChangeset(bytes)
          } catch (e) {
            if (!(e instanceof CorruptError)) throw e
          }
        }),
        { numRuns: 2000 },
      )
    })

    it('a huge declared length is rejected without allocating it', () => {
      const start = performance.now()
      expectCorrupt(Buffer.concat([hex('54010174 00 12 00 04'), hex('8fffffff7f')]))
      expect(performance.now() - start).toBeLessThan(50)
    })
  })

  it('refuses to encode what the format cannot hold', () => {
    const t = (changes: Changeset['tables'][0]['changes'], pk = [1]) => ({
      tables: [{ name: 't', pk, changes }],
    })
    expect(() => encodeChangeset(t([{ op: 'INSERT', indirect: false, new: [2n ** 63n] }]))).toThrow(
      InvalidArgumentError,
    )
    expect(() => encodeChangeset(t([{ op: 'INSERT', indirect: false, new: ['\uD800'] }]))).toThrow(
      /well-formed/,
    )
    expect(() => encodeChangeset(t([{ op: 'INSERT', indirect: false, new: [1n, 2n] }]))).toThrow(
      /2 values/,
    )
    expect(() =>
      encodeChangeset(t([{ op: 'INSERT', indirect: false, new: [undefined as unknown as Value] }])),
    ).toThrow(/missing value/)
    expect(() => encodeChangeset({ tables: [{ name: 'a\0b', pk: [1], changes: [] }] })).toThrow(
      InvalidArgumentError,
    )
    expect(() => encodeChangeset({ tables: [{ name: 'a', pk: [], changes: [] }] })).toThrow(
      InvalidArgumentError,
    )
  })
})
