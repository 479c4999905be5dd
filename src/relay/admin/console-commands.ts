import { commonCommand, splitCommand } from '../../admin/console/commands'
import type { ConsoleCommands } from '../../admin/console/console-server'
import type { RelayControl } from './relay-control'

/** proxy.js 0.9's management commands, with its output byte for byte. */
export const RELAY_HELP = 'Commands: config, health, status, quit\n\n'

export function relayCommands(control: RelayControl): ConsoleCommands {
  return (line) => {
    const [cmd, params] = splitCommand(line)
    const common = commonCommand(control, cmd, params)
    if (common !== undefined) return common
    if (cmd === 'help') return { output: RELAY_HELP, quit: false }
    if (cmd === 'status') {
      const uptime = Math.round(Date.now() / 1000) - Math.round(control.startedAt / 1000)
      return { output: `uptime: ${uptime}\nnodes: ${control.ringMembers().map((id) => `${id} `).join('')}\n`, quit: false }
    }
    return { output: 'ERROR\n', quit: false }
  }
}
