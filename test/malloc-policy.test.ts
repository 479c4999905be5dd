import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'tap'
import { MMAP_THRESHOLD, fixMmapThreshold } from '../src/core/malloc-policy'
import { nativeAddon } from '../src/core/native-addon'

const native = 'addon' in nativeAddon()

test('the mmap threshold is fixed unless the environment sets one', { skip: !native && 'no native addon' }, async (t) => {
  t.equal(fixMmapThreshold({}), MMAP_THRESHOLD)
  t.equal(fixMmapThreshold({ MALLOC_MMAP_THRESHOLD_: '65536' }), 'from the environment')
  t.equal(fixMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.mmap_threshold=65536' }), 'from the environment')
  t.equal(fixMmapThreshold({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }), MMAP_THRESHOLD)
})

/*
 * In a process of its own: one large block freed raises glibc's threshold
 * to its size, so 64 blocks of 512 KiB then come from the main heap, where
 * they stay resident once freed, each between two blocks still in use. With
 * the threshold fixed, each had a mapping of its own, unmapped when freed.
 */
const PROBE = `
const policy = require(${JSON.stringify(path.resolve(__dirname, '../src/core/malloc-policy.js'))})
if (process.argv[1] === 'fix') policy.fixMmapThreshold({})
const rss = () => Number(/VmRSS:\\s+(\\d+)/.exec(require('fs').readFileSync('/proc/self/status', 'utf8'))[1]) / 1024
// V8 frees backing stores on a thread of its own, a little after a collection.
const collect = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 50)) } }
;(async () => {
  let big = new Uint8Array(new ArrayBuffer(16 << 20)).fill(1)
  big = null
  await collect()
  // Each freed block lies between two that stay: the heap cannot shrink past it.
  let blocks = []
  const kept = []
  for (let i = 0; i < 64; i++) {
    blocks.push(new Uint8Array(new ArrayBuffer(512 << 10)).fill(1))
    kept.push(new Uint8Array(new ArrayBuffer(100 << 10)).fill(1))
  }
  const top = kept
  const before = rss()
  blocks = null
  await collect()
  process.stdout.write(String(before - rss()) + ' ' + top.length)
})()
`

const glibc = native && typeof fixMmapThreshold({}) === 'number'

test('with the threshold fixed, freed large blocks leave the resident memory', { skip: (!glibc || process.platform !== 'linux') && 'needs the addon and glibc on Linux' }, async (t) => {
  const freedMb = (mode: string): number =>
    Number(execFileSync(process.execPath, ['--expose-gc', '-e', PROBE, mode], { encoding: 'utf8' }).split(' ')[0])
  const fixed = freedMb('fix')
  t.ok(fixed > 24, `fixed: ${fixed.toFixed(1)} MB of 32 MB given back`)
  t.comment(`left to glibc: ${freedMb('leave').toFixed(1)} MB given back`)
})
