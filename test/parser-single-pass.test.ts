import t from 'tap'
import { hashKeyBytes } from '../src/parse/key-hash'
import { PacketParser, type ParseSink } from '../src/parse/packet-parser'
import { ReferencePacketParser } from './helpers/reference-packet-parser'
import { seededRandom } from './helpers/random'
import { RecordingSink } from './helpers/recording-sink'

/*
 * The single-pass parser against the multi-pass one it replaced: the same
 * sink calls with the same arguments (numbers compared with Object.is, so
 * -0 and every last digit count), on generated StatsD-ish input and garbage.
 */

class Log extends RecordingSink implements ParseSink<string> {
  onLine(buf: Buffer, start: number, end: number): void {
    this.calls.push(['line', buf.toString('latin1', start, end)])
  }
  resolveKey(buf: Buffer, ks: number, ke: number, ts: number, te: number, hash: number): string {
    const tags = te > ts ? buf.toString('latin1', ts, te) : ''
    const key = `${buf.toString('latin1', ks, ke)}|${tags}`
    this.calls.push(['key', key, hash, hashKeyBytes(buf, ks, ke, ts, te)])
    return key
  }
  onBadFields(buf: Buffer, start: number, end: number, count: number): void {
    this.calls.push(['fields', buf.toString('latin1', start, end), count])
  }
}

function sameCalls(a: unknown[][], b: unknown[][]): boolean {
  if (a.length !== b.length) return false
  return a.every((call, i) => call.length === b[i]!.length && call.every((x, j) => Object.is(x, b[i]![j])))
}

const ALPHABET = [':', '|', '|', '@', '#', '|#', '\n', '\r', '\r\n', '.', '-', '+', 'e', ' ', ',', 'c', 'ms', 'g', 's', 'h', '0', '1', '5', '9', '0.25', 'key', 'x', 'T', 'T17', 'c:', 'e:', 'card:', 'high', '_e{', '_sc|', '|T1', '|c:', '|@']

t.test('same sink calls as the multi-pass parser', async (t) => {
  const random = seededRandom(1234)
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!
  const token = (): string => {
    const r = random()
    if (r < 0.05) return String.fromCharCode(Math.floor(random() * 256))
    if (r < 0.15) return String((random() - 0.5) * 10 ** Math.floor(random() * 25))
    if (r < 0.2) return '1234567890123456789'.slice(0, 1 + Math.floor(random() * 19))
    return pick(ALPHABET)
  }
  const lineLike = (): string => {
    const r = random()
    if (r < 0.5) return `k${pick(['', '.a', ' b/c'])}:${pick(['1', '-2.5', '+3', '.5', '1e3', ' 7 ', '', 'x'])}|${pick(['c', 'ms', 'g', 's', 'h', ' ms ', 'zz', ''])}${pick(['', '|@0.5', '|@', '|@2', '|@0.1|x', '|#t:1,u', '|@0.5|#a:b|#c'])}${pick(['', '|c:ab:c', '|T1700000000', '|T', '|Tx', '|e:a,b', '|card:low', '|card:x', '|zz', '|', '|#t:1|@0.5', '|@0.5|#a'])}${pick(['', ':2|c', ':'])}`
    let s = ''
    const n = Math.floor(random() * 12)
    for (let i = 0; i < n; i++) s += token()
    return s
  }
  let mismatches = 0
  for (let i = 0; i < 20_000; i++) {
    let text = ''
    const lines = 1 + Math.floor(random() * 4)
    for (let l = 0; l < lines; l++) text += lineLike() + pick(['\n', '\r\n', '\n\n', ''])
    const packet = Buffer.from(text, 'latin1')
    // Also inside a bigger buffer, as a batch of datagrams delivers it.
    const slab = Buffer.concat([Buffer.from('a:1|c\n'), packet, Buffer.from('\nb:2|c')])
    const expected = new Log()
    new ReferencePacketParser(expected).parse(packet)
    const got = new Log()
    new PacketParser(got).parse(packet)
    const inSlab = new Log()
    new PacketParser(inSlab).parse(slab, 6, 6 + packet.length)
    if (!sameCalls(got.calls, expected.calls) || !sameCalls(inSlab.calls, expected.calls)) {
      if (mismatches++ < 5) t.same({ packet: text, calls: got.calls, inSlab: inSlab.calls }, { packet: text, calls: expected.calls, inSlab: expected.calls })
    }
    for (const call of got.calls) {
      if (call[0] === 'key' && call[2] !== call[3] && mismatches++ < 5) t.fail(`hash differs for ${JSON.stringify(text)}`)
    }
  }
  t.equal(mismatches, 0)
})

t.test('a line with many values grows the pending table', async (t) => {
  const got = new Log()
  new PacketParser(got).parse(Buffer.from('k' + ':1|c'.repeat(100) + '|#t'))
  t.equal(got.calls.filter((c) => c[0] === 'c' && c[1] === 'k|t').length, 100)
})

t.test('keys of every length, ended at every byte of a 4-byte word, at every alignment', async (t) => {
  // The key scan reads 4 bytes at a time and finishes the last word by a mask,
  // so every key length and every way of ending it must agree with the reference.
  const endings = [':1|c', ':1|c\n', '\n', '|#t:1', ':1|c|#t:1', '|x:2|c', ':3|ms\r\n', '']
  let mismatches = 0
  for (let length = 0; length <= 21; length++) {
    const key = 'abcdefghijklmnopqrstuvwxyz'.slice(0, length)
    for (const ending of endings) {
      for (let offset = 0; offset < 4; offset++) {
        const text = key + ending + 'k:2|c'.slice(0, length % 6)
        const slab = Buffer.alloc(offset + text.length + 4, 'z')
        slab.write(text, offset, 'latin1')
        const expected = new Log()
        new ReferencePacketParser(expected).parse(Buffer.from(text, 'latin1'))
        const got = new Log()
        new PacketParser(got).parse(slab, offset, offset + text.length)
        const hashes = got.calls.filter((c) => c[0] === 'key' && c[2] !== c[3])
        if ((!sameCalls(got.calls, expected.calls) || hashes.length > 0) && mismatches++ < 5) {
          t.same({ text, offset, calls: got.calls }, { text, offset, calls: expected.calls })
        }
      }
    }
  }
  t.equal(mismatches, 0)
})

t.test('type fields the fast path reads, and their near misses', async (t) => {
  const types = ['c', 'ms', 'g', 's', 'h', 'd', 'm', 'mx', 'msx', 'cc', 'c ', ' c', 'C', 'ms\r', 'x', '']
  const after = ['', '\n', ':2|c', '|@0.5', '|#t:1', '|x', '\r\n']
  let mismatches = 0
  for (const value of ['1', '-2.5', '+3', 'abc', '']) {
    for (const type of types) {
      for (const tail of after) {
        const text = `key:${value}|${type}${tail}`
        const expected = new Log()
        new ReferencePacketParser(expected).parse(Buffer.from(text))
        const got = new Log()
        new PacketParser(got).parse(Buffer.from(text))
        if (!sameCalls(got.calls, expected.calls) && mismatches++ < 5) t.same({ text, calls: got.calls }, { text, calls: expected.calls })
      }
    }
  }
  t.equal(mismatches, 0)
})
