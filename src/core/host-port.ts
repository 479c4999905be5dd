import net from 'node:net'

/** "127.0.0.1:8125" or "[::1]:8125", as addresses are written in logs and messages. */
export function hostPort(address: string, port: number): string {
  return net.isIPv6(address) ? `[${address}]:${port}` : `${address}:${port}`
}
