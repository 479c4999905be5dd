#!/usr/bin/env node
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { htmlReport } from './html-report'
import { type Options, parseOptions, USAGE, UsageError } from './options'
import { SoakRun } from './run'
import { startServerUnderTest } from './server-under-test'
import { summaryText, verdict } from './summary'

/*
 * statsd-soak: drives a StatsD server with a known workload for a while and
 * checks every value it flushes to Graphite. See USAGE and README.md.
 */

/** Where the progress and the summary go: stdout, or a test's buffer. */
export interface Output {
  write(text: string): unknown
  isTTY?: boolean
}

export async function main(argv: string[], out: Output = process.stdout): Promise<number> {
  let options: Options | 'help'
  try {
    options = parseOptions(argv)
  } catch (err) {
    if (!(err instanceof UsageError)) throw err
    process.stderr.write(`statsd-soak: ${err.message}\n${USAGE}\n`)
    return 2
  }
  if (options === 'help') {
    out.write(USAGE + '\n')
    return 0
  }

  const dir = mkdtempSync(path.join(os.tmpdir(), 'soak-'))
  const tty = out.isTTY === true
  let lastPlain = 0
  const run = new SoakRun(options, (sample, text) => {
    if (tty) out.write(`\r\x1b[K${text}`)
    else if (sample.t - lastPlain >= options.progressEveryMs || lastPlain === 0) {
      lastPlain = Math.max(sample.t, 1)
      out.write(text + '\n')
    }
  })
  let server
  try {
    await run.receiver.start(options.graphitePort ?? 0)
    server = await startServerUnderTest(options, dir, run.receiver.port)
  } catch (err) {
    process.stderr.write(`statsd-soak: could not start: ${(err as Error).message}\n`)
    await run.receiver.stop()
    rmSync(dir, { recursive: true, force: true })
    return 3
  }
  try {
    const result = await run.run(server)
    if (tty) out.write('\n')
    const v = verdict(result, options)
    writeFileSync(options.report, htmlReport(result, v, options, argv))
    out.write(summaryText(result, v, options) + `\nreport: ${path.resolve(options.report)}\n`)
    const warnings = server.warnings()
    if (warnings.length > 0) out.write(`server warnings (${warnings.length}), first: ${warnings.slice(0, 3).join(' | ')}\n`)
    return result.harnessErrors.length > 0 ? 3 : v.ok ? 0 : 1
  } finally {
    await server.stop()
    await run.receiver.stop()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      process.stderr.write(`statsd-soak: ${(err as Error).stack ?? String(err)}\n`)
      process.exit(3)
    },
  )
}
