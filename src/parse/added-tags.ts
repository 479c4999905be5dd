import { hashKeyBytes } from './key-hash'

/*
 * A line's key and DogStatsD tags with tags the line did not carry itself:
 * its container ID (`c:`, as `container_id:<id>`, when the config asks) and
 * its datagram's origin (`pid:`, `uid:` from SO_PASSCRED). They are copied
 * into one reused buffer, key then tags, so that the sink resolves and
 * hashes them like any other line's (the same bytes give the same series).
 * Only lines that have such tags come here: the common line never does.
 */

const CONTAINER_ID_TAG = Buffer.from('container_id:')
const COMMA = 44

export class AddedTags {
  buf = Buffer.alloc(1024)
  keyEnd = 0
  tagsStart = 0
  tagsEnd = 0
  hash = 0

  /**
   * Key src[keyStart, keyEnd), tags src[tagsStart, tagsEnd), then the
   * container ID src[idStart, idEnd) (none if empty) and `origin` ("k:v,k:v"
   * or null), into `buf`; sets the ranges and hash.
   */
  build(src: Buffer, keyStart: number, keyEnd: number, tagsStart: number, tagsEnd: number, idStart: number, idEnd: number, origin: Buffer | null): void {
    const bytes = keyEnd - keyStart + (tagsEnd - tagsStart) + (idEnd - idStart) + CONTAINER_ID_TAG.length + (origin?.length ?? 0) + 2
    if (bytes > this.buf.length) this.buf = Buffer.alloc(Math.max(bytes, this.buf.length * 2))
    const buf = this.buf
    let at = src.copy(buf, 0, keyStart, keyEnd)
    this.keyEnd = at
    this.tagsStart = at
    at += src.copy(buf, at, tagsStart, tagsEnd)
    if (idEnd > idStart) {
      if (at > this.tagsStart) buf[at++] = COMMA
      at += CONTAINER_ID_TAG.copy(buf, at)
      at += src.copy(buf, at, idStart, idEnd)
    }
    if (origin !== null && origin.length > 0) {
      if (at > this.tagsStart) buf[at++] = COMMA
      at += origin.copy(buf, at)
    }
    this.tagsEnd = at
    this.hash = hashKeyBytes(buf, 0, this.keyEnd, this.tagsStart, at)
  }
}
