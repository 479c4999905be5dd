import fs from 'node:fs'

/*
 * The functions a V8 CPU profile spent its samples in, by self time:
 * `node build/bench/profile-top.js <file.cpuprofile>... [--top N]`.
 * Profiles come from `node --cpu-prof --cpu-prof-dir=DIR` (one file per
 * thread, worker threads included); for a bench row, run it with
 * NODE_OPTIONS="--cpu-prof --cpu-prof-dir=DIR", which the servers it starts
 * inherit. Idle time ("(idle)") is left out of the shares.
 */

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  hitCount?: number
}
interface Profile {
  nodes: ProfileNode[]
  samples?: number[]
  timeDeltas?: number[]
}

/** Self time per function (name and place), in microseconds, from a profile's samples and their time deltas. */
export function selfTimes(profile: Profile): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const times = new Map<string, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  for (let i = 0; i < samples.length; i++) {
    const node = byId.get(samples[i]!)
    if (node === undefined) continue
    const { functionName, url, lineNumber } = node.callFrame
    const where = url === '' ? '' : ` ${url.replace(/^.*\/(build|node_modules)\//, '$1/')}:${lineNumber + 1}`
    const key = `${functionName === '' ? '(anonymous)' : functionName}${where}`
    // A sample's time is the delta to the next one.
    times.set(key, (times.get(key) ?? 0) + (deltas[i + 1] ?? 0))
  }
  return times
}

function main(): void {
  const args = process.argv.slice(2)
  const topAt = args.indexOf('--top')
  const top = topAt >= 0 ? Number(args[topAt + 1]) : 15
  const files = args.filter((a, i) => a !== '--top' && i !== topAt + 1)
  if (files.length === 0) {
    process.stderr.write('usage: node build/bench/profile-top.js <file.cpuprofile>... [--top N]\n')
    process.exit(2)
  }
  for (const file of files) {
    const times = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile)
    times.delete('(idle)')
    const total = [...times.values()].reduce((a, b) => a + b, 0)
    process.stdout.write(`\n${file}: ${(total / 1e6).toFixed(2)} s busy\n| self % | ms | function |\n| ---: | ---: | --- |\n`)
    for (const [name, us] of [...times].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`| ${((100 * us) / total).toFixed(1)} | ${(us / 1000).toFixed(0)} | ${name.replace(/\|/g, '\\|')} |\n`)
    }
  }
}

if (require.main === module) main()
