'use strict'
/*
 * Stands in for Etsy's stats.js when Etsy 0.9's own test files run against
 * statsd-ts (etsy-suite.int.ts): those tests spawn `node stats.js CONFIG` in
 * their working folder and wait for "server is up" on its stdout. This
 * starts statsd-ts on the same config instead, says "server is up" once
 * statsd-ts logs that it is, and passes SIGTERM on. Its log goes to
 * STATSD_TS_LOG, so that the tests' own output stays readable.
 */
const { spawn } = require('node:child_process')
const fs = require('node:fs')

const log = fs.openSync(process.env.STATSD_TS_LOG, 'a')
const child = spawn(process.execPath, [...JSON.parse(process.env.STATSD_TS_NODE_FLAGS), process.env.STATSD_TS_MAIN, process.argv[2]], {
  stdio: ['ignore', 'inherit', 'pipe'],
})
let pending = ''
let up = false
child.stderr.on('data', (chunk) => {
  fs.writeSync(log, chunk)
  if (up) return
  pending += chunk.toString()
  if (pending.includes('"msg":"statsd server is up"')) {
    up = true
    process.stdout.write('server is up\n')
  }
})
for (const signal of ['SIGTERM', 'SIGINT']) process.on(signal, () => child.kill(signal))
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)))
