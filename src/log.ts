import pino, { type Logger } from 'pino'
import pretty from 'pino-pretty'
import type { Config } from './config/schema'

export type { Logger }

/**
 * Structured JSON logs on stderr (stdout is left to the console backend's
 * flush output); human-readable when asked for or when stderr is a terminal.
 */
export function createLogger(cfg: Config['log']): Logger {
  const readable = cfg.pretty ?? process.stderr.isTTY === true
  const options = { level: cfg.level, base: { pid: process.pid } }
  if (readable) {
    return pino(options, pretty({ destination: 2, sync: true, colorize: process.stderr.isTTY === true }))
  }
  return pino(options, pino.destination({ dest: 2, sync: true }))
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' })
}
