import t from 'tap'
import { NameBytes } from '../src/aggregate/name-bytes'
import { ByteChunks, chunkPool } from '../src/backends/byte-chunks'
import { seededRandom } from './helpers/random'

// First in this file: the pool has not yet seen a flush (none was finished) when it runs.
t.test('a flush handed over as it is written reuses a few Buffers, from the first flush on', async (t) => {
  const seen = new Set<ArrayBufferLike>()
  let handed = 0
  // As the Graphite backend does: each Buffer goes to the socket, then back to the pool once written.
  const out = new ByteChunks((chunk) => {
    seen.add(chunk.buffer)
    handed += chunk.length
    chunkPool.give([chunk])
  })
  const line = Buffer.from('stats.timers.some.name.upper_90 12.5 1700000000\n')
  for (let written = 0; written < 4 * 1024 * 1024; written += line.length) {
    out.reserve(line.length)
    out.copy(line)
  }
  const payload = out.finish()
  t.equal(handed, payload.bytes, 'every byte handed over')
  t.ok(seen.size <= 2, `${seen.size} Buffers for 16 Buffers' worth of output`)
  t.equal(payload.chunks.length, 0, 'none kept: the pool has them')
})

/* Numbers must print digit for digit as JavaScript prints them: Etsy's output is String(value). */

function printed(values: readonly number[]): string[] {
  const out = new ByteChunks()
  for (const v of values) {
    out.reserve(64)
    out.number(v)
    out.byte(0x0a)
  }
  return Buffer.concat(out.finish().chunks).toString().split('\n').slice(0, -1)
}

t.test('numbers print exactly as String(value) does', async (t) => {
  const random = seededRandom(42)
  const values: number[] = [0, -0, 1, -1, 0.1, 0.2, 0.3, 0.1 + 0.2, 1 / 3, 2 / 3, 1e-6, 1e-7, 1.5e-6, 123456789.123456, 999999999.999999,
    1e9, 1e15, 1e15 - 1, -1e15 + 1, 1e21, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, -(2 ** 31), 2 ** 32 + 0.5, 999999999.5, 1e9 - 1e-6, 1.7976931348623157e308, 5e-324, 2 ** 53, 2 ** 53 + 2, 0.000001, 0.0000015, 12.05, 100.5, 4.35, 0.07]
  for (let i = 0; i < 200_000; i++) {
    const r = random()
    const scale = 10 ** Math.floor(random() * 8)
    switch (i % 6) {
      case 0: values.push(Math.round(r * 1e6) / 4) // quarters, as timers in ms often are
        break
      case 1: values.push(Math.round(r * 1e9) / scale) // a few decimals at any magnitude
        break
      case 2: values.push((r - 0.5) * 10 ** (random() * 40 - 20)) // anything
        break
      case 3: values.push(Math.round(r * 1000) / 7) // means
        break
      case 4: values.push(Math.sqrt(r * 1e6)) // standard deviations
        break
      default: values.push(Math.round(r * 1e5) / 10 / scale) // rates
    }
  }
  const expected = values.map((v) => String(v))
  const got = printed(values)
  const wrong = values.filter((_, i) => got[i] !== expected[i]).slice(0, 5).map((v) => `${String(v)} printed as ${got[values.indexOf(v)]}`)
  t.same(wrong, [], `${values.length} numbers`)
})

t.test('text: ASCII byte by byte, anything else as UTF-8; whole lines per Buffer', async (t) => {
  const out = new ByteChunks()
  const lines = ['plain.name', 'naïve.größe', 'emoji.😀', 'x'.repeat(300_000)]
  for (const line of lines) {
    out.reserve(3 * line.length + 1)
    out.text(line)
    out.byte(0x0a)
  }
  const { chunks, bytes } = out.finish()
  t.equal(Buffer.concat(chunks).toString(), lines.join('\n') + '\n')
  t.equal(bytes, Buffer.byteLength(lines.join('\n') + '\n'))
  t.ok(chunks.every((c) => c[c.length - 1] === 0x0a), 'each Buffer ends on a line')
})

t.test('name: the bytes of name i, short (byte by byte) or long (one copy), multi-byte UTF-8 included', async (t) => {
  const names = ['a', 'naïve.größe', 'emoji.😀', 'k'.repeat(128), 'l'.repeat(129), '', 'x'.repeat(5000)]
  const bytes = NameBytes.encode(names)
  const out = new ByteChunks()
  for (let i = 0; i < names.length; i++) {
    out.reserve(bytes.length(i) + 1)
    out.name(bytes, i)
    out.byte(0x0a)
  }
  t.equal(Buffer.concat(out.finish().chunks).toString(), names.join('\n') + '\n')
})
