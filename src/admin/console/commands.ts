import { inspect } from 'node:util'
import type { MetricType, ServerControl } from '../../core/server-control'

/*
 * Etsy statsd 0.9's management commands, with its output formats byte for
 * byte where a script may parse them (lib/mgmt_console.js and stats.js).
 * Etsy has no sets/delsets; they follow the same pattern here.
 */

export const HELP =
  'Commands: stats, counters, timers, gauges, sets, delcounters, deltimers, delgauges, delsets, health, config, auth, quit\n\n'

const DELETE_COMMANDS: Record<string, MetricType> = {
  delcounters: 'counters',
  deltimers: 'timers',
  delgauges: 'gauges',
  delsets: 'sets',
}

/**
 * Whether a command line changes the server (the deletes, `health up|down`),
 * only reads, or presents the admin token (`auth TOKEN`, not Etsy's).
 */
export function commandAccess(line: string): 'read' | 'write' | 'auth' {
  const [cmd = '', action] = line.trim().split(' ')
  if (cmd === 'auth') return 'auth'
  if (Object.hasOwn(DELETE_COMMANDS, cmd)) return 'write'
  const health = action?.toLowerCase()
  return cmd === 'health' && (health === 'up' || health === 'down') ? 'write' : 'read'
}

/** The answer to one command line; `quit` is true when the connection should be closed. */
export interface ConsoleAnswer {
  output: string
  quit: boolean
}

/** As Etsy and proxy.js: trim, then split on single spaces (so "health  up" has an empty first parameter). */
export function splitCommand(line: string): [string, string[]] {
  const [cmd = '', ...params] = line.trim().split(' ')
  return [cmd, params]
}

/** `config`, `health [up|down]` and `quit`, which Etsy's server and proxy.js answer alike; undefined for any other. */
export function commonCommand(
  control: Pick<ServerControl, 'health' | 'config'>,
  cmd: string,
  params: readonly string[],
): ConsoleAnswer | undefined {
  switch (cmd) {
    case 'config':
      return { output: writeConfig(control.config), quit: false }
    case 'health': {
      const action = params[0]?.toLowerCase()
      if (action === 'up' || action === 'down') control.health.set(action)
      return { output: `health: ${control.health.current.status}\n`, quit: false }
    }
    case 'quit':
      return { output: '', quit: true }
  }
  return undefined
}

export function runCommand(control: ServerControl, line: string): ConsoleAnswer {
  const [cmd, params] = splitCommand(line)
  const answer = (output: string): ConsoleAnswer => ({ output, quit: false })
  const common = commonCommand(control, cmd, params)
  if (common !== undefined) return common
  switch (cmd) {
    case 'help':
      return answer(HELP)
    case 'stats':
      return answer(stats(control))
    case 'counters':
    case 'timers':
    case 'gauges':
    case 'sets':
      return answer(inspect(Object.fromEntries(control.tables()[cmd])) + '\nEND\n\n')
    default: {
      // hasOwn: "constructor" is no delete command.
      const type = Object.hasOwn(DELETE_COMMANDS, cmd) ? DELETE_COMMANDS[cmd] : undefined
      return answer(type === undefined ? 'ERROR\n' : deleteStats(control, type, params))
    }
  }
}

/** Etsy's `stats`: uptime, its two message stats, then each backend's status; "last_*" values as seconds ago. */
function stats(control: ServerControl): string {
  const s = control.snapshot()
  const now = Math.round(Date.now() / 1000)
  const line = (group: string, metric: string, value: number): string =>
    `${group}.${metric}: ${metric.startsWith('last_') ? now - value : value}\n`
  let out = `uptime: ${now - Math.round(s.info.startedAt / 1000)}\n`
  out += line('messages', 'last_msg_seen', Math.round(s.lastMessageSeen / 1000))
  out += line('messages', 'bad_lines_seen', s.aggregator.badLines)
  for (const backend of s.backends) {
    for (const [stat, value] of backend.etsyStatus) out += line(backend.name, stat, value)
  }
  return out + 'END\n\n'
}

function deleteStats(control: ServerControl, type: MetricType, patterns: string[]): string {
  let out = ''
  for (const pattern of patterns) {
    const deleted = control.deleteMatching(type, pattern)
    if (deleted.length === 0) out += `metric ${pattern} not found\n`
    for (const name of deleted) out += `deleted: ${name}\n`
  }
  return out + 'END\n\n'
}

/** Etsy's helpers.writeConfig: "key: value", one level of "key > sub: value". */
function writeConfig(config: Readonly<Record<string, unknown>>): string {
  let out = '\n'
  for (const [prop, value] of Object.entries(config)) {
    if (typeof value !== 'object' || value === null) {
      out += `${prop}: ${String(value)}\n`
      continue
    }
    for (const [sub, subValue] of Object.entries(value)) out += `${prop} > ${sub}: ${String(subValue)}\n`
  }
  return out
}
