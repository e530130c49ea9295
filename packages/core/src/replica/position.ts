import { createHash } from 'node:crypto'
import type { FileHandle } from 'node:fs/promises'
import { fromOsError } from '../util/os-error.js'

/**
 * Where the local replica file stands: the manifest seq its committed state
 * materialises, and the key of the object that produced that state. Stored in a
 * sidecar file next to the replica so that a restarted process can reuse it.
 */
export interface ReplicaPosition {
  /** Identifies the database (store + prefix) the replica belongs to. */
  database: string
  seq: number
  /** Key of the last log entry (or snapshot) applied: proves which history `seq` is in. */
  head: string
}

/** Fixed record size: the sidecar is rewritten in place, one sector-sized write. */
const RECORD_BYTES = 4096

interface Record {
  v: 1
  /** Set while the replica is being changed: the position is then unknown. */
  pending: boolean
  position: ReplicaPosition | null
}

/**
 * The sidecar file `<replica>.s3db-position`. Protocol for every change of the
 * replica: `markPending()` (fsynced) -> change and commit the SQLite file (WAL,
 * synchronous=FULL) -> `write(newPosition)`. A crash at any point leaves either
 * a pending record (the replica is rebuilt) or a true position.
 *
 * It works on a descriptor its owner opened (read-write, never through a
 * symlink) and keeps locked: the sidecar doubles as the replica's second lock,
 * and the owner closes it.
 */
export class PositionFile {
  readonly path: string
  readonly #handle: FileHandle
  #current: Record
  /** A write failed part-way: what the file holds is unknown until the next write succeeds. */
  #damaged = false

  private constructor(path: string, handle: FileHandle, current: Record) {
    this.path = path
    this.#handle = handle
    this.#current = current
  }

  /** Reads the record through `handle`, the sidecar at `path` opened read-write. */
  static async read(path: string, handle: FileHandle): Promise<PositionFile> {
    return new PositionFile(path, handle, await readRecord(handle))
  }

  /** The recorded position, or undefined when it is unknown (never written, pending, or damaged). */
  get position(): ReplicaPosition | undefined {
    return this.#current.pending ? undefined : (this.#current.position ?? undefined)
  }

  async markPending(): Promise<void> {
    if (this.#current.pending && !this.#damaged) return
    await this.#write({ v: 1, pending: true, position: this.#current.position }, true)
  }

  async write(position: ReplicaPosition): Promise<void> {
    await this.#write({ v: 1, pending: false, position }, false)
  }

  async #write(record: Record, durable: boolean): Promise<void> {
    const json = JSON.stringify(record)
    const line = `${json}\n${sha(json)}\n`
    const buf = Buffer.alloc(RECORD_BYTES, 0x20)
    if (Buffer.byteLength(line) > RECORD_BYTES) throw new Error('replica position record too large')
    buf.write(line)
    try {
      await this.#handle.write(buf, 0, RECORD_BYTES, 0)
      if (durable) await this.#handle.datasync()
    } catch (err) {
      this.#damaged = true
      throw fromOsError(err, 'write', this.path)
    }
    this.#current = record
    this.#damaged = false
  }
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex')
}

async function readRecord(handle: FileHandle): Promise<Record> {
  const unknown: Record = { v: 1, pending: true, position: null }
  const buf = Buffer.alloc(RECORD_BYTES)
  let text: string
  try {
    const { bytesRead } = await handle.read(buf, 0, RECORD_BYTES, 0)
    text = buf.subarray(0, bytesRead).toString('utf8')
  } catch {
    return unknown
  }
  const [json, sum] = text.split('\n')
  if (!json || sum !== sha(json)) return unknown
  try {
    const r = JSON.parse(json) as Record
    if (r.v !== 1) return unknown
    return r
  } catch {
    return unknown
  }
}
