import t from 'tap'
import { RawKeyCache } from '../src/aggregate/raw-key-cache'
import { seededRandom } from './helpers/random'

/*
 * The cache compares keys 4 bytes at a time. However the hashes fall, a hit
 * must be the same bytes: keys that differ in any one byte, or only in
 * length, or only in their tags, never share an entry.
 */

function slabWith(text: string, offset: number): Buffer {
  const slab = Buffer.alloc(offset + text.length + 3, '#')
  slab.write(text, offset, 'latin1')
  return slab
}

t.test('only byte-equal keys hit, even when every hash is the same', async (t) => {
  const random = seededRandom(99)
  const keys = new Set<string>()
  for (let length = 0; length <= 13; length++) {
    const base = 'app.service12.host3'.slice(0, length)
    keys.add(base)
    // The same key with one byte changed, at every position.
    for (let i = 0; i < length; i++) keys.add(base.slice(0, i) + String.fromCharCode(base.charCodeAt(i) ^ 1) + base.slice(i + 1))
  }
  const tagged = [...keys].slice(0, 40).map((k) => [k, `env:prod${k.length}`] as const)
  const entries: (readonly [string, string])[] = [...[...keys].map((k) => [k, ''] as const), ...tagged]
  for (const sameHash of [true, false]) {
    const cache = new RawKeyCache<string>()
    const id = (key: string, tags: string): string => `${key}|#${tags}`
    const lookup = (key: string, tags: string, insert: boolean): string | undefined => {
      const offset = Math.floor(random() * 4)
      const slab = slabWith(key + '|#' + tags, offset)
      const keyEnd = offset + key.length
      const tagsStart = keyEnd + 2
      const tagsEnd = tagsStart + tags.length
      const args = [slab, offset, keyEnd, tagsStart, tagsEnd] as const
      const hit = sameHash ? cache.get(...args, 12345) : cache.get(...args)
      if (hit === undefined && insert) {
        if (sameHash) cache.set(...args, id(key, tags), 12345)
        else cache.set(...args, id(key, tags))
      }
      return hit
    }
    let wrong = 0
    for (const [key, tags] of entries) if (lookup(key, tags, true) !== undefined && wrong++ < 5) t.fail(`first lookup of ${id(key, tags)} hit`)
    t.equal(cache.size, entries.length)
    for (const [key, tags] of entries) if (lookup(key, tags, false) !== id(key, tags) && wrong++ < 5) t.fail(`lookup of ${id(key, tags)}`)
    t.equal(wrong, 0, sameHash ? 'all hashes equal' : 'real hashes')
  }
})

t.test('keys survive the arena and the table growing', async (t) => {
  const cache = new RawKeyCache<number>()
  const n = 20_000
  const key = (i: number): string => `app.service${i % 97}.host${i}.requests.with.a.longer.tail`
  for (let i = 0; i < n; i++) {
    const b = Buffer.from(key(i))
    cache.set(b, 0, b.length, b.length, b.length, i)
  }
  let wrong = 0
  for (let i = 0; i < n; i++) {
    const b = slabWith(key(i), i % 4)
    if (cache.get(b, i % 4, (i % 4) + key(i).length, 0, 0) !== i) wrong++
  }
  t.equal(wrong, 0)
})
