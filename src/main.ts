#!/usr/bin/env -S node --no-memory-reducer
// First: it sets V8 flags that must be in effect before the rest is loaded.
import { semiSpaceGrowthFactor } from './core/heap-policy'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { ConfigError } from './config/config-error'
import type { LoadedConfig } from './config/load'
import { loadConfigApart } from './config/load-apart'
import { redactSecrets } from './config/redact'
import { limitHeapGrowth } from './core/heap-growth'
import { fixMmapThreshold } from './core/malloc-policy'
import { ListenError } from './listeners/listen-error'
import { createLogger } from './log'
import { reloadFromFile } from './reload'
import type { StatsdRelay } from './relay/relay'
import { StatsdServer } from './server'

/*
 * Command line. Exit statuses follow sysexits.h so that scripts and systemd
 * can tell the causes apart: 64 usage, 69/73 a listener cannot start,
 * 70 internal error, 78 configuration.
 */

const EX_USAGE = 64
const EX_SOFTWARE = 70
const EX_CONFIG = 78

const HELP = `usage: statsd-ts [CONFIG]            run the server (CONFIG: native JSON, Etsy config.js or statsgod config.yml;
                                     a relay for an Etsy proxy config (with nodes) or a native config with relay;
                                     without one, UDP on 127.0.0.1:8125 and the console backend)
       statsd-ts --check-config CONFIG   validate CONFIG, print its warnings; exit 0, or 78 if it is invalid
       statsd-ts --print-config CONFIG   print the effective native JSON config (defaults filled in, Etsy or
                                     statsgod settings translated)
       statsd-ts --version               print the version
       statsd-ts --help                  print this help

exit status: 0 ok, 64 bad command line, 69 an address is unavailable (in use, not local, cannot be resolved),
73 a Unix socket file cannot be created, 70 internal error, 78 invalid configuration
`

type Command =
  | { kind: 'run'; file: string | undefined }
  | { kind: 'check' | 'print'; file: string }
  | { kind: 'version' | 'help' }
  | { kind: 'usage'; problem: string }

function parseArgs(argv: readonly string[]): Command {
  const [first, second, ...rest] = argv
  if (first === '-h' || first === '--help') return { kind: 'help' }
  if (first === '-V' || first === '--version') {
    return argv.length === 1 ? { kind: 'version' } : { kind: 'usage', problem: 'too many arguments' }
  }
  if (first === '--check-config' || first === '--print-config') {
    if (second === undefined || rest.length > 0) return { kind: 'usage', problem: `${first} takes exactly one file` }
    return { kind: first === '--check-config' ? 'check' : 'print', file: second }
  }
  if (first?.startsWith('-') === true) return { kind: 'usage', problem: `unknown option ${first}` }
  if (second !== undefined) return { kind: 'usage', problem: 'too many arguments' }
  return { kind: 'run', file: first }
}

async function main(argv: string[]): Promise<number> {
  const command = parseArgs(argv)
  switch (command.kind) {
    case 'help':
      process.stdout.write(HELP)
      return 0
    case 'version':
      process.stdout.write(`statsd-ts ${version()}\n`)
      return 0
    case 'usage':
      process.stderr.write(`statsd-ts: ${command.problem}\n${HELP}`)
      return EX_USAGE
  }

  let loaded: LoadedConfig
  try {
    loaded = loadConfigApart(command.file)
  } catch (err: unknown) {
    if (!(err instanceof ConfigError)) throw err
    process.stderr.write(`statsd-ts: invalid configuration\n${err.message}\n`)
    return EX_CONFIG
  }
  switch (command.kind) {
    case 'check':
      for (const warning of loaded.warnings) process.stderr.write(`statsd-ts: warning: ${warning}\n`)
      process.stdout.write(`${command.file}: configuration OK\n`)
      return 0
    case 'print':
      for (const warning of loaded.warnings) process.stderr.write(`statsd-ts: warning: ${warning}\n`)
      process.stdout.write(`${JSON.stringify(redactSecrets(loaded.config), null, 2)}\n`)
      return 0
    case 'run':
      return run(loaded, command.file)
  }
}

async function run(loaded: LoadedConfig, file: string | undefined): Promise<number> {
  const heapGrowingPercent = limitHeapGrowth()
  const mmapThreshold = fixMmapThreshold()
  const log = createLogger(loaded.config.log)
  const logConfig = (): void => {
    log.info(
      {
        config: loaded.source,
        heapGrowingPercent: heapGrowingPercent ?? 'from the command line',
        semiSpaceGrowthFactor: semiSpaceGrowthFactor ?? 'from the command line',
        mmapThreshold,
      },
      'configuration loaded',
    )
    for (const warning of loaded.warnings) log.warn(warning)
  }

  const { relay } = loaded.config
  const starting: Promise<StatsdServer | StatsdRelay> =
    relay !== undefined
      ? // The relay's modules (and hashring) load only for a relay config.
        (require('./relay/relay') as typeof import('./relay/relay')).StatsdRelay.start({ ...loaded.config, relay }, log, loaded.source)
      : StatsdServer.start(loaded.config, log, { source: loaded.source, format: loaded.format })
  // Handled from now on, before the server says it is up: a SIGTERM right
  // after "up" would otherwise kill the process without its final flush.
  const stopped = new Promise<number>((resolve) => {
    const shutdown = (signal: NodeJS.Signals): void => {
      log.info({ signal }, 'shutting down: draining and flushing')
      starting
        .then((server) => server.stop())
        .then(
          () => resolve(0),
          (err: unknown) => {
            log.error({ err }, 'error while shutting down')
            resolve(1)
          },
        )
    }
    process.once('SIGTERM', shutdown)
    process.once('SIGINT', shutdown)
    // A failed aggregation thread: the other shards' data is flushed, then a non-zero exit has the supervisor restart us.
    starting
      .then((server) => ('failed' in server ? server.failed : new Promise<never>(() => {})))
      .then((err) => {
        log.fatal({ err }, 'stopping: an aggregation thread failed (the other threads are flushed first)')
        return starting.then((server) => server.stop())
      })
      .then(
        () => resolve(EX_SOFTWARE),
        () => resolve(EX_SOFTWARE),
      )
    // Installed before start-up ends too: SIGHUP's default action would kill the process.
    process.on('SIGHUP', () => {
      starting.then((server) => reloadFromFile(file, server, log)).catch(() => {})
    })
  })

  try {
    await starting
  } catch (err) {
    // The person at the terminal must see this line first; the structured entries are for log collectors.
    process.stderr.write(`statsd-ts: ${err instanceof Error ? err.message : String(err)}\n`)
    logConfig()
    log.fatal({ err }, 'could not start')
    return err instanceof ListenError ? err.exitCode : EX_SOFTWARE
  }
  logConfig()
  return stopped
}

function version(): string {
  // build/src/main.js -> the package.json beside build/, in the repository and in the installed package.
  const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }
  return pkg.version
}

// An exception nobody caught is a bug and leaves state unknown: say so loudly and exit
// non-zero so the supervisor restarts a clean process (bad input never gets here).
process.on('uncaughtException', (err) => {
  process.stderr.write(`statsd-ts: uncaught exception: ${err.stack ?? String(err)}\n`)
  process.exit(EX_SOFTWARE)
})

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`statsd-ts: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`)
    process.exit(EX_SOFTWARE)
  },
)
