import { spawn } from 'node:child_process'
import type { Test } from 'tap'

/** "name{labels}" -> value, for every sample line of a Prometheus text exposition. */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>()
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue
    const cut = line.lastIndexOf(' ')
    out.set(line.slice(0, cut), Number(line.slice(cut + 1)))
  }
  return out
}

/**
 * Prometheus's own parser and linter (promtool, Debian package prometheus)
 * must accept the text: no parse error, and no lint problem with our own
 * statsd_* metrics (prom-client's nodejs_* defaults have some of their own).
 */
export async function promtoolCheck(t: Test, text: string): Promise<void> {
  const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let output = ''
  child.stdout.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr.on('data', (d: Buffer) => (output += d.toString()))
  child.stdin.end(text)
  const code = await new Promise<number | null>((resolve, reject) => {
    child.on('error', reject)
    child.on('exit', resolve)
  })
  const ours = output.split('\n').filter((line) => line.startsWith('statsd_'))
  t.notMatch(output, /error while linting|parsing error/, 'promtool parses it')
  t.same(ours, [], `promtool finds nothing wrong with the statsd_ metrics (exit ${code})`)
}
