/*
 * Carbon's pickle receiver (Etsy's graphiteProtocol "pickle"): each frame is
 * a 4-byte big-endian length, then a protocol-0 pickle of a list of
 * (name, (timestamp, value)) tuples, with the value as a string, exactly as
 * Etsy's Metric.toPickle writes it. Carbon refuses frames over 1 MiB, so a
 * large flush goes as several frames on the same connection.
 */

const MAX_FRAME_BYTES = 1024 * 1024

/** Plaintext Graphite lines ("name value timestamp\n"...) as pickle frames. */
export function pickleLines(text: string): Buffer {
  const frames: Buffer[] = []
  let body = '(l'
  let start = 0
  while (start < text.length) {
    let end = text.indexOf('\n', start)
    if (end < 0) end = text.length
    const line = text.slice(start, end)
    start = end + 1
    const tsAt = line.lastIndexOf(' ')
    const valueAt = line.lastIndexOf(' ', tsAt - 1)
    if (valueAt <= 0) continue
    const item = `(S'${escape(line.slice(0, valueAt))}'\n(L${line.slice(tsAt + 1)}L\nS'${line.slice(valueAt + 1, tsAt)}'\ntta`
    if (body.length + item.length + 1 > MAX_FRAME_BYTES - 4 && body.length > 2) {
      frames.push(frame(body))
      body = '(l'
    }
    body += item
  }
  if (body.length > 2) frames.push(frame(body))
  return Buffer.concat(frames)
}

function frame(body: string): Buffer {
  const buf = Buffer.allocUnsafe(4 + Buffer.byteLength(body + '.', 'latin1'))
  buf.writeUInt32BE(buf.length - 4, 0)
  buf.write(body + '.', 4, 'latin1')
  return buf
}

/** Python string-literal escapes; names are Graphite-sanitised, so this is a safety net. */
function escape(name: string): string {
  return /[\\'\n\u0080-\uffff]/.test(name)
    ? name.replace(/[\\'\n]|[\u0080-\uffff]/g, (c) => {
        if (c === '\\' || c === "'") return '\\' + c
        if (c === '\n') return '\\n'
        return [...Buffer.from(c, 'utf8')].map((b) => '\\x' + b.toString(16).padStart(2, '0')).join('')
      })
    : name
}
