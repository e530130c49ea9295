import { describe, expect, it } from 'vitest'
import { checkScenario } from './harness.js'

describe('smoke', () => {
  it('insert update delete', async () => {
    const r = await checkScenario({
      schema: 'CREATE TABLE t(id INTEGER PRIMARY KEY, a, b REAL); CREATE TABLE u(x TEXT, y, z, PRIMARY KEY(z, x)) WITHOUT ROWID',
      setup: [{ sql: "INSERT INTO t VALUES (1, 'a', 1), (2, 'b', 2), (3, 'c', 3)" }],
      work: [
        { sql: 'INSERT INTO t VALUES (?, ?, ?)', params: [10n, 'x', 1.5] },
        { sql: 'UPDATE t SET a = ? WHERE id = 1', params: [Buffer.from([1, 2])] },
        { sql: 'DELETE FROM t WHERE id = 2' },
        { sql: "INSERT INTO u VALUES ('k', 1, 2), ('j', 3, 4)" },
      ],
    })
    expect(r.ours).not.toBeNull()
    console.log(r.sameBytes)
  })
})
