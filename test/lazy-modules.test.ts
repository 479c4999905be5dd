import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'tap'

/** Packages from node_modules a fresh node has loaded after `script`. */
function packagesLoadedBy(script: string): string[] {
  const out = execFileSync(
    process.execPath,
    ['-e', `${script}; process.stdout.write(JSON.stringify(Object.keys(require.cache)))`],
    { encoding: 'utf8' },
  )
  const files = JSON.parse(out) as string[]
  return [...new Set(files.filter((f) => f.includes('/node_modules/')).map((f) => f.split('/node_modules/').pop()!.split('/')[0]!))]
}

test('a JSON config and JSON logs load neither yaml, acorn nor pino-pretty', async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lazy-'))
  t.teardown(() => fs.rmSync(dir, { recursive: true, force: true }))
  const file = path.join(dir, 'config.json')
  fs.writeFileSync(file, '{}')
  const load = JSON.stringify(path.resolve(__dirname, '../src/config/load.js'))
  const log = JSON.stringify(path.resolve(__dirname, '../src/log.js'))
  const loaded = packagesLoadedBy(
    `require(${load}).loadConfig(${JSON.stringify(file)}); require(${log}).createLogger({ level: 'info', pretty: false })`,
  )
  t.ok(loaded.includes('zod'), 'the config was read')
  for (const lazy of ['yaml', 'acorn', 'pino-pretty']) t.notOk(loaded.includes(lazy), `${lazy} not loaded`)

  const js = path.join(dir, 'config.js')
  fs.writeFileSync(js, '{ port: 8125 }')
  t.ok(packagesLoadedBy(`require(${load}).loadConfig(${JSON.stringify(js)})`).includes('acorn'), 'an Etsy config.js loads acorn')
})

test('backends: protobufjs and snappyjs load only with a push backend', async (t) => {
  const registry = JSON.stringify(path.resolve(__dirname, '../src/backends/registry.js'))
  const schema = JSON.stringify(path.resolve(__dirname, '../src/config/schema.js'))
  const logger = JSON.stringify(path.resolve(__dirname, '../src/log.js'))
  const create = (backends: object[]): string =>
    `const config = require(${schema}).configSchema.parse({ backends: ${JSON.stringify(backends)} });` +
    `require(${registry}).createBackends({ config, startupTime: 0, log: require(${logger}).silentLogger(), tapPackets() {} })`
  const plain = packagesLoadedBy(create([{ type: 'console' }]))
  for (const lazy of ['protobufjs', 'snappyjs']) t.notOk(plain.includes(lazy), `${lazy} not loaded`)
  const push = packagesLoadedBy(create([{ type: 'remote_write', url: 'http://127.0.0.1:1/api/v1/write' }]))
  t.ok(push.includes('protobufjs') && push.includes('snappyjs'), 'loaded for remote_write')
})
