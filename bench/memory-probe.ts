import fs from 'node:fs'
import v8 from 'node:v8'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { isMainThread, threadId } from 'node:worker_threads'

/*
 * Where a server's memory is at its peak: loaded into it with `-r`
 * (`node -r ./build/bench/memory-probe.js build/src/main.js ...`; for a
 * bench:e2e target row, in the build's BENCH_E2E_MAINS entry:
 * "PROBE_DIR=/tmp/p build/src/main.js -r ./build/bench/memory-probe.js"),
 * every thread, worker threads included (they inherit -r), appends its V8
 * heap figures to PROBE_DIR/<pid>-<thread>.jsonl every 50 ms; the main
 * thread adds the process's RSS, and at each new highest RSS writes
 * /proc/self/smaps summed by kind of mapping to PROBE_DIR/<pid>-smaps.json.
 * `node build/bench/memory-probe.js PROBE_DIR` then prints, for each
 * process, each thread's heap when the RSS was highest.
 *
 * Adjacent anonymous mappings merge, so a mapping's size rarely says what
 * it holds. With the addon, every piece of memory the server takes through
 * uncountedMemory (reader slabs, timer arenas, Graphite record blocks, name
 * bytes, output chunks) is also noted with its address and its caller, and
 * at each new highest RSS their resident bytes (/proc/self/pagemap) are
 * summed by caller: "live" while the JavaScript object holding it is,
 * "collected" once V8 has let it go (then freed). PROBE_PIECES=every adds
 * them to every sample, not only the highest.
 */

const MB = 1024 * 1024
const round = (bytes: number): number => Math.round((bytes / MB) * 10) / 10

function statusMb(): Record<'rss' | 'anon' | 'file', number> {
  const s = fs.readFileSync('/proc/self/status', 'utf8')
  const kb = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? 0) / 1024
  return { rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') }
}

/** Resident MB of /proc/self/smaps by kind: files, malloc's main heap, V8's 256 KiB pages, and other anonymous mappings by size. */
function smapsByKind(): { kinds: Record<string, number>; biggest: string[] } {
  const out: Record<string, number> = {}
  const mappings: [string, number][] = []
  let kind = ''
  let mapping = ''
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$/.exec(line)
    if (m !== null) {
      const kib = (parseInt(m[2]!, 16) - parseInt(m[1]!, 16)) / 1024
      const name = m[4]!
      const size = kib >= 16384 ? '16 MiB and more (malloc arenas, lanes)' : kib >= 1024 ? '1-16 MiB' : kib === 256 ? '256 KiB (V8 heap pages)' : 'under 1 MiB'
      kind = name.startsWith('/') ? 'files' : name === '[heap]' ? 'malloc main heap' : name.startsWith('[') ? name : `anonymous ${size}`
      mapping = `${m[1]} ${m[3]} ${Math.round(kib / 1024)} MiB ${name}`
      continue
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) {
      out[kind] = (out[kind] ?? 0) + Number(rss[1]) / 1024
      mappings.push([mapping, Number(rss[1]) / 1024])
    }
  }
  // The biggest resident mappings, each with its address, permissions and size, then its resident MB.
  const biggest = mappings.sort((a, b) => b[1] - a[1]).slice(0, 12).map(([m, mb]) => `${m}: ${round(mb * MB)}`)
  return { kinds: Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v * 10) / 10])), biggest }
}

interface Piece {
  ref: WeakRef<SharedArrayBuffer>
  address: number
  bytes: number
  caller: string
}

/** Wraps uncountedMemory to note each piece's address and caller; returns the pieces, kept until collected. */
function notePieces(): Set<Piece> {
  const pieces = new Set<Piece>()
  let addressOf: ((view: Uint8Array) => number) | null = null
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addressOf = (require('../../native/build/Release/statsd_recv.node') as { memoryAddress?: (v: Uint8Array) => number }).memoryAddress ?? null
  } catch {
    return pieces
  }
  if (addressOf === null) return pieces
  const gone = new FinalizationRegistry<Piece>((piece) => pieces.delete(piece))
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const module = require('../src/core/uncounted-memory') as { uncountedMemory: (bytes: number) => SharedArrayBuffer }
  const original = module.uncountedMemory
  module.uncountedMemory = (bytes) => {
    const memory = original(bytes)
    const frame = new Error().stack?.split('\n')[2] ?? ''
    const m = /at (?:new )?(\S+) .*\/([^/]+\.js)/.exec(frame)
    const piece = { ref: new WeakRef(memory), address: addressOf(new Uint8Array(memory, 0, Math.min(1, bytes))), bytes, caller: m ? `${m[1]} ${m[2]}` : frame.trim() }
    pieces.add(piece)
    gone.register(memory, piece)
    return memory
  }
  return pieces
}

/** Resident MB of each caller's pieces, and how many pieces it has. */
function residentPieces(pieces: Set<Piece>): Record<string, string> {
  const out: Record<string, number> = {}
  const count: Record<string, number> = {}
  let fd = -1
  try {
    fd = fs.openSync('/proc/self/pagemap', 'r')
    const page = 4096
    for (const piece of pieces) {
      const first = Math.floor(piece.address / page)
      const last = Math.ceil((piece.address + piece.bytes) / page)
      const buf = Buffer.alloc((last - first) * 8)
      fs.readSync(fd, buf, 0, buf.length, first * 8)
      let present = 0
      for (let i = 7; i < buf.length; i += 8) if (buf[i]! & 0x80) present++
      const key = `${piece.caller}${piece.ref.deref() === undefined ? ' (collected)' : ''}`
      out[key] = (out[key] ?? 0) + (present * page) / MB
      count[key] = (count[key] ?? 0) + 1
    }
  } catch {
    // No pagemap: nothing to add.
  } finally {
    if (fd >= 0) fs.closeSync(fd)
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, `${Math.round(v * 10) / 10} MB in ${count[k]}`]))
}

function probe(dir: string): void {
  const pieces = notePieces()
  fs.mkdirSync(dir, { recursive: true })
  const file = `${dir}/${process.pid}-${threadId}.jsonl`
  let highest = 0
  // The longest the event loop was held since the last sample: a stretch in which the queue was not drained.
  const delay = monitorEventLoopDelay({ resolution: 5 })
  delay.enable()
  setInterval(() => {
    const h = v8.getHeapStatistics()
    const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name.replace('_space', ''), round(s.physical_space_size)]))
    const m = process.memoryUsage()
    const row: Record<string, unknown> = { t: Date.now(), heap: round(h.total_physical_size), used: round(h.used_heap_size), external: round(m.external), heldMs: Math.round(delay.max / 1e6), spaces }
    delay.reset()
    if (isMainThread) {
      const status = statusMb()
      Object.assign(row, status)
      if (process.env.PROBE_PIECES === 'every') row.pieces = residentPieces(pieces)
      if (status.rss > highest + 2) {
        highest = status.rss
        fs.writeFileSync(`${dir}/${process.pid}-smaps.json`, JSON.stringify({ rss: status.rss, ...smapsByKind(), pieces: residentPieces(pieces) }))
      }
    }
    fs.appendFileSync(file, JSON.stringify(row) + '\n')
  }, 50).unref()
}

interface Row {
  t: number
  heap: number
  rss?: number
  [k: string]: unknown
}

function report(dir: string): void {
  const byPid = new Map<string, Map<string, Row[]>>()
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.jsonl'))) {
    const [pid, thread] = f.replace('.jsonl', '').split('-') as [string, string]
    const rows = fs.readFileSync(`${dir}/${f}`, 'utf8').split('\n').filter((l) => l.startsWith('{') && l.endsWith('}')).map((l) => JSON.parse(l) as Row)
    if (!byPid.has(pid)) byPid.set(pid, new Map())
    byPid.get(pid)!.set(thread, rows)
  }
  for (const [pid, threads] of byPid) {
    const main = threads.get('0')
    if (main === undefined || main.length === 0) continue
    const peak = main.reduce((a, b) => ((b.rss ?? 0) > (a.rss ?? 0) ? b : a))
    process.stdout.write(`pid ${pid}, ${threads.size} thread(s): highest RSS ${JSON.stringify({ rss: peak.rss, anon: peak.anon, file: peak.file })} MB\n`)
    for (const [thread, rows] of threads) {
      const near = rows.reduce((a, b) => (Math.abs(b.t - peak.t) < Math.abs(a.t - peak.t) ? b : a))
      const { t: _t, rss: _r, anon: _a, file: _f, ...heap } = near
      process.stdout.write(`  thread ${thread} then: ${JSON.stringify(heap)}\n`)
    }
    const smaps = `${dir}/${pid}-smaps.json`
    if (fs.existsSync(smaps)) process.stdout.write(`  /proc/self/smaps at the highest RSS, MB: ${fs.readFileSync(smaps, 'utf8')}\n`)
  }
}

if (require.main === module) report(process.argv[2] ?? '/tmp/memory-probe')
else probe(process.env.PROBE_DIR ?? '/tmp/memory-probe')
