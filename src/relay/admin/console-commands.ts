import { writeConfig } from '../../admin/console/commands'
import type { ConsoleCommands } from '../../admin/console/console-server'
import type { RelayControl } from './relay-control'

/** proxy.js 0.9's management commands, with its output byte for byte. */
export const RELAY_HELP = 'Commands: config, health, status, quit\n\n'

export function relayCommands(control: RelayControl): ConsoleCommands {
  return (line) => {
    const [cmd = '', ...params] = line.trim().split(' ')
    const answer = (output: string): { output: string; quit: boolean } => ({ output, quit: false })
    switch (cmd) {
      case 'help':
        return answer(RELAY_HELP)
      case 'config':
        return answer(writeConfig(control.config))
      case 'health': {
        const action = params[0]?.toLowerCase()
        if (action === 'up' || action === 'down') control.health.set(action)
        return answer(`health: ${control.health.current.status}\n`)
      }
      case 'status': {
        const uptime = Math.round(Date.now() / 1000) - Math.round(control.startedAt / 1000)
        return answer(`uptime: ${uptime}\nnodes: ${control.ringMembers().map((id) => `${id} `).join('')}\n`)
      }
      case 'quit':
        return { output: '', quit: true }
      default:
        return answer('ERROR\n')
    }
  }
}
