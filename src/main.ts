#!/usr/bin/env node
import { ConfigError } from './config/errors'
import { loadConfig } from './config/load'
import { createLogger } from './log'
import { StatsdServer } from './server'

/*
 * Command line: statsd-ts [config-file]
 * Without a file, a built-in default config is used (UDP on 127.0.0.1:8125,
 * console backend). Etsy statsd config files are accepted as they are.
 */

const USAGE = 'usage: statsd-ts [config-file]   (JSON, or an Etsy statsd config.js)'

async function main(argv: string[]): Promise<number> {
  if (argv.includes('-h') || argv.includes('--help')) {
    process.stdout.write(USAGE + '\n')
    return 0
  }
  if (argv.length > 1) {
    process.stderr.write(USAGE + '\n')
    return 2
  }

  let loaded: ReturnType<typeof loadConfig>
  try {
    loaded = loadConfig(argv[0])
  } catch (err: unknown) {
    if (err instanceof ConfigError) {
      process.stderr.write(`statsd-ts: invalid configuration\n${err.message}\n`)
      return 78 // EX_CONFIG
    }
    throw err
  }

  const log = createLogger(loaded.config.log)
  log.info({ config: loaded.source }, 'configuration loaded')
  for (const warning of loaded.warnings) log.warn(warning)

  let server: StatsdServer
  try {
    server = await StatsdServer.start(loaded.config, log, { source: loaded.source, format: loaded.format })
  } catch (err) {
    log.fatal({ err }, 'could not start')
    return 1
  }

  return new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'shutting down: draining and flushing')
      server.stop().then(
        () => resolve(0),
        (err: unknown) => {
          log.error({ err }, 'error while shutting down')
          resolve(1)
        },
      )
    }
    process.once('SIGTERM', shutdown)
    process.once('SIGINT', shutdown)
  })
}

// An exception nobody caught is a bug and leaves state unknown: say so loudly and exit
// non-zero so the supervisor restarts a clean process (bad input never gets here).
process.on('uncaughtException', (err) => {
  process.stderr.write(`statsd-ts: uncaught exception: ${err.stack ?? String(err)}\n`)
  process.exit(70) // EX_SOFTWARE
})

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`statsd-ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(1)
  },
)
