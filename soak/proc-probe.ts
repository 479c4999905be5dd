import { readFileSync } from 'node:fs'

/** Linux clock ticks per second for /proc/<pid>/stat CPU times (USER_HZ is 100 on every mainstream kernel). */
const CLOCK_TICKS = 100

/** RSS and CPU of a process, read from /proc; null fields when it cannot be read (no pid, not Linux, exited). */
export class ProcProbe {
  private lastTicks: number | null = null
  private lastAt = 0

  constructor(private readonly pid: number | undefined) {}

  /** RSS in bytes and CPU use since the previous call, in percent of one core. */
  sample(now = Date.now()): { rss: number | null; cpu: number | null } {
    if (this.pid === undefined) return { rss: null, cpu: null }
    try {
      const status = readFileSync(`/proc/${this.pid}/status`, 'utf8')
      const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
      // Fields after the ")" that closes the command name: utime and stime are the 12th and 13th.
      const stat = readFileSync(`/proc/${this.pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const ticks = Number(fields[11]) + Number(fields[12])
      const cpu = this.lastTicks === null ? null : ((ticks - this.lastTicks) / CLOCK_TICKS / ((now - this.lastAt) / 1000)) * 100
      this.lastTicks = ticks
      this.lastAt = now
      return { rss: Number.isFinite(rssKb) ? rssKb * 1024 : null, cpu }
    } catch {
      return { rss: null, cpu: null }
    }
  }
}

/**
 * Datagrams the kernel dropped at UDP sockets bound to `port` (the last
 * column of /proc/net/udp and udp6), so UDP loss the server does not report
 * can still be told apart from loss nobody can see.
 */
export function kernelUdpDrops(port: number): number | null {
  let total: number | null = null
  for (const file of ['/proc/net/udp', '/proc/net/udp6']) {
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch {
      continue
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/)
      if (cols.length < 13) continue
      const localPort = parseInt(cols[1]!.split(':')[1]!, 16)
      if (localPort === port) total = (total ?? 0) + Number(cols[cols.length - 1])
    }
  }
  return total
}
