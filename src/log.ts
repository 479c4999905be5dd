import pino, { type Logger } from 'pino'
import type { Config } from './config/schema'

export type { Logger }

/**
 * Structured JSON logs on stderr (stdout is left to the console backend's
 * flush output); human-readable when asked for or when stderr is a terminal.
 */
export function createLogger(cfg: Config['log']): Logger {
  const readable = cfg.pretty ?? process.stderr.isTTY === true
  const options = { level: cfg.level, base: { pid: process.pid }, onChild: remember }
  if (readable) {
    // Loaded only when asked for: a daemon logging JSON never needs it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const pretty = require('pino-pretty') as typeof import('pino-pretty')
    return pino(options, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true }))
  }
  return pino(options, pino.destination({ dest: 2, sync: true }))
}

/** Every child logger, so that a reloaded log level reaches the ones already handed out. */
const children = new Set<WeakRef<Logger>>()

function remember(child: Logger): void {
  // Short-lived children (one per connection, say) must not pile up.
  if (children.size >= 1024) forEachChild(() => {})
  children.add(new WeakRef(child))
}

function forEachChild(fn: (child: Logger) => void): void {
  for (const ref of children) {
    const child = ref.deref()
    if (child === undefined) children.delete(ref)
    else fn(child)
  }
}

/** Changes the level of `root` and of every child logger made so far. */
export function setLogLevel(root: Logger, level: Config['log']['level']): void {
  root.level = level
  forEachChild((child) => (child.level = level))
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
