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

/** The routing key of line buf[start, end) (end excludes the newline). */
export function lineKey(buf: Buffer, start: number, end: number): string {
  const first = buf[start]
  if (first === 0x5f /* _ */) {
    if (startsWith(buf, start, end, EVENT)) return eventTitle(buf, start, end)
    if (startsWith(buf, start, end, SERVICE_CHECK)) {
      const from = start + SERVICE_CHECK.length
      return buf.toString('utf8', from, indexIn(buf, PIPE, from, end))
    }
  }
  return buf.toString('utf8', start, indexIn(buf, COLON, start, end))
}

/** `_e{title_length,text_length}:title|text|...`: the title; a malformed header routes like a plain line. */
function eventTitle(buf: Buffer, start: number, end: number): string {
  let i = start + EVENT.length
  let length = 0
  let digits = 0
  for (; i < end && buf[i]! >= 0x30 && buf[i]! <= 0x39 && digits < 7; i++, digits++) length = length * 10 + buf[i]! - 0x30
  const colon = indexIn(buf, COLON, i, end)
  if (digits === 0 || buf[i] !== 0x2c /* , */ || colon === end) return buf.toString('utf8', start, colon)
  return buf.toString('utf8', colon + 1, Math.min(end, colon + 1 + length))
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
