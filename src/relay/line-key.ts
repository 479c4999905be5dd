/*
 * The name a line is routed by. For a StatsD line it is proxy.js's key: the
 * text before the first ":" (the whole line when there is none), decoded as
 * UTF-8 as proxy.js decodes the packet. DogStatsD events and service checks
 * have no name before a ":" (every event would start "_e{"), so an event is
 * routed by its title and a service check by its check name.
 */

const COLON = 0x3a
const PIPE = 0x7c
const EVENT = Buffer.from('_e{')
const SERVICE_CHECK = Buffer.from('_sc|')

/** Where a line's routing key is: buf[start, end). Reused, so that finding it allocates nothing. */
export interface KeyRange {
  start: number
  end: number
}

/** Sets `key` to the routing key of line buf[start, end) (end excludes the newline). */
export function findKey(buf: Buffer, start: number, end: number, key: KeyRange): void {
  if (buf[start] === 0x5f /* _ */) {
    if (startsWith(buf, start, end, EVENT) && eventTitle(buf, start, end, key)) return
    if (startsWith(buf, start, end, SERVICE_CHECK)) {
      key.start = start + SERVICE_CHECK.length
      key.end = indexIn(buf, PIPE, key.start, end)
      return
    }
  }
  key.start = start
  key.end = indexIn(buf, COLON, start, end)
}

/** The routing key as the string hashring hashes. */
export function lineKey(buf: Buffer, start: number, end: number): string {
  const key = { start: 0, end: 0 }
  findKey(buf, start, end, key)
  return buf.toString('utf8', key.start, key.end)
}

/** `_e{title_length,text_length}:title|text|...`: the title; false for a malformed header (routed like a plain line). */
function eventTitle(buf: Buffer, start: number, end: number, key: KeyRange): boolean {
  let i = start + EVENT.length
  let length = 0
  let digits = 0
  for (; i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39 && digits < 7; i++, digits++) length = length * 10 + buf[i]! - 0x30
  const colon = indexIn(buf, COLON, i, end)
  if (digits === 0 || buf[i] !== 0x2c /* , */ || colon === end) return false
  key.start = colon + 1
  key.end = Math.min(end, colon + 1 + length)
  return true
}

function startsWith(buf: Buffer, start: number, end: number, prefix: Buffer): boolean {
  if (end - start < prefix.length) return false
  for (let i = 0; i < prefix.length; i++) if (buf[start + i] !== prefix[i]) return false
  return true
}

/** The first `byte` in buf[from, end), or end; a loop, as buf.indexOf would search past end through the rest of a batch. */
function indexIn(buf: Buffer, byte: number, from: number, end: number): number {
  let i = from
  while (i < end && buf[i] !== byte) i++
  return i
}
