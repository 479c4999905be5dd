'use strict'
/*
 * `npm ci` runs this (the "install" script). It builds the native addon
 * with node-gyp against the headers of the Node that runs it, and NEVER
 * fails the install: without the addon the server reads UDP with Node's
 * dgram and says so at start-up.
 */
const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

function nodeDir() {
  // Distribution packages put headers in <prefix>/include/node; node-gyp would otherwise download them.
  const prefix = path.resolve(path.dirname(process.execPath), '..')
  return fs.existsSync(path.join(prefix, 'include', 'node', 'node_api.h')) ? prefix : null
}

function main() {
  if (process.env.STATSD_TS_NATIVE === 'off') {
    console.warn('statsd-ts: STATSD_TS_NATIVE=off, not building the native addon')
    return
  }
  // npm says where its own node-gyp is; otherwise look beside this node's npm.
  const bundled = path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')
  const gyp = process.env.npm_config_node_gyp || (fs.existsSync(bundled) ? bundled : null)
  const [command, prefixArgs] = gyp ? [process.execPath, [gyp]] : ['node-gyp', []]
  const args = [...prefixArgs, 'rebuild', '--directory', __dirname]
  const dir = nodeDir()
  if (dir !== null) args.push(`--nodedir=${dir}`)
  const result = spawnSync(command, args, { stdio: 'inherit' })
  if (result.status !== 0) {
    console.warn(
      `statsd-ts: could not build the native addon (datagram reader and line fast path) (${result.error ? result.error.message : `exit ${result.status}`}); ` +
        'UDP will use node:dgram, unixgram listeners are unavailable and the JavaScript parser reads every line',
    )
  }
}

main()
