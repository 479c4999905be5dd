import fs from 'node:fs'

/*
 * The functions a V8 CPU profile spent its samples in, by self time:
 * `node build/bench/profile-top.js <file.cpuprofile>... [--top N] [--from S]`.
 * Profiles come from `node --cpu-prof --cpu-prof-dir=DIR` (one file per
 * thread, worker threads included); for a bench:e2e target row, add the
 * flags to the build's BENCH_E2E_MAINS entry
 * ("build/src/main.js --cpu-prof --cpu-prof-dir=DIR"). Idle time
 * ("(idle)") is left out of the shares. `--from S` counts only the samples
 * taken S seconds or more after the profile started (to leave start-up out).
 * Time in the addon's C code counts as the JavaScript function that called
 * it (parsePackets: the parser); the reader threads are not in any profile.
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
export function selfTimes(profile: Profile, fromUs = 0): Map<string, number> {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]))
  const times = new Map<string, number>()
  const samples = profile.samples ?? []
  const deltas = profile.timeDeltas ?? []
  let at = 0
  for (let i = 0; i < samples.length; i++) {
    at += deltas[i] ?? 0
    if (at < fromUs) continue
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
  /** Takes `name value` out of args; its value, or `fallback`. */
  const option = (name: string, fallback: number): number => {
    const at = args.indexOf(name)
    if (at < 0) return fallback
    const [, value] = args.splice(at, 2)
    return Number(value)
  }
  const top = option('--top', 15)
  const fromUs = option('--from', 0) * 1e6
  const files = args
  if (files.length === 0) {
    process.stderr.write('usage: node build/bench/profile-top.js <file.cpuprofile>... [--top N] [--from S]\n')
    process.exit(2)
  }
  for (const file of files) {
    const times = selfTimes(JSON.parse(fs.readFileSync(file, 'utf8')) as Profile, fromUs)
    times.delete('(idle)')
    const total = [...times.values()].reduce((a, b) => a + b, 0)
    process.stdout.write(`\n${file}: ${(total / 1e6).toFixed(2)} s busy\n| self % | ms | function |\n| ---: | ---: | --- |\n`)
    for (const [name, us] of [...times].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`| ${((100 * us) / total).toFixed(1)} | ${(us / 1000).toFixed(0)} | ${name.replace(/\|/g, '\\|')} |\n`)
    }
  }
}

if (require.main === module) main()
