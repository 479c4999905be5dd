import type { GroupResult } from './ledger'
import { type Transport, TRANSPORTS } from './workload'

/** One transport's outcome: what was lost, and how much of it the server owned up to. */
export interface TransportRow {
  transport: Transport
  sent: number
  received: number
  lost: number
  /** Lost lines covered by the server's own drop figures (bad lines beyond the malformed ones sent, queue drops...). */
  reported: number
  /** Lost lines nobody reported: the figure that must be zero. */
  silent: number
  /** Of the silent ones (UDP): datagrams the kernel dropped at the server's socket (/proc/net/udp), in lines. */
  kernelSeen: number
  extra: number
  wrong: number
}

/** What the server said it dropped during a phase. */
export interface ReportedDrops {
  /** Self-metric name -> count (per-interval counts, summed). */
  drops: Map<string, number>
  /** bad_lines_seen beyond the malformed lines the harness sent on purpose: good lines the server refused. */
  badLinesBeyondMalformed: number
  /** Datagrams the kernel dropped at the server's UDP socket (null: not measurable here). */
  kernelDrops: number | null
}

/**
 * A drop figure in lines. Packets, datagrams (kernel drops) and refused
 * connections carried linesPerPacket lines each; bytes cannot be converted
 * (shown, not counted).
 */
function inLines(name: string, value: number, linesPerPacket: number): number {
  if (/byte/i.test(name)) return 0
  return /packet|datagram|kernel|connection/i.test(name) ? value * linesPerPacket : value
}

/** The transports a drop figure can cover, from its name ("udp.127_0_0_1_8125.kernel_drops", "stream.refused_connections"). */
function coveredBy(name: string): readonly Transport[] {
  if (/udp/i.test(name)) return ['udp']
  if (/unix/i.test(name)) return ['unix']
  if (/tcp/i.test(name)) return ['tcp', 'tcp-short']
  if (/stream/i.test(name)) return ['tcp', 'tcp-short', 'unix']
  return TRANSPORTS
}

/**
 * Lines lost per transport, split into reported and silent. A figure that
 * names a transport covers only that transport's losses; the others (and
 * bad lines) cover any transport's. The most specific figures are used
 * first, UDP first, as the transport the kernel may drop.
 */
export function attribute(results: GroupResult[], wrongValues: Record<Transport, number>, reported: ReportedDrops, linesPerPacket: number): TransportRow[] {
  const rows = new Map<Transport, TransportRow>()
  for (const r of results) {
    const row = rows.get(r.transport) ?? {
      transport: r.transport, sent: 0, received: 0, lost: 0, reported: 0, silent: 0, kernelSeen: 0, extra: 0, wrong: wrongValues[r.transport],
    }
    row.sent += r.sent
    row.received += r.received
    row.lost += r.lost
    row.extra += r.extra
    row.wrong += r.wrong
    rows.set(r.transport, row)
  }
  const buckets: { covers: readonly Transport[]; lines: number }[] = [{ covers: TRANSPORTS, lines: reported.badLinesBeyondMalformed }]
  for (const [name, value] of reported.drops) buckets.push({ covers: coveredBy(name), lines: inLines(name, value, linesPerPacket) })
  buckets.sort((a, b) => a.covers.length - b.covers.length)
  const ordered = TRANSPORTS.map((t) => rows.get(t)).filter((r): r is TransportRow => r !== undefined)
  for (const row of ordered) {
    for (const bucket of buckets) {
      if (!bucket.covers.includes(row.transport)) continue
      const take = Math.min(row.lost - row.reported, bucket.lines)
      bucket.lines -= take
      row.reported += take
    }
    row.silent = row.lost - row.reported
    if (row.transport === 'udp') row.kernelSeen = Math.min(row.silent, (reported.kernelDrops ?? 0) * linesPerPacket)
  }
  return ordered
}

/** Adds rows of several phases, per transport. */
export function sumRows(rows: TransportRow[]): TransportRow[] {
  const total = new Map<Transport, TransportRow>()
  for (const r of rows) {
    const t = total.get(r.transport)
    if (t === undefined) {
      total.set(r.transport, { ...r })
      continue
    }
    for (const k of ['sent', 'received', 'lost', 'reported', 'silent', 'kernelSeen', 'extra', 'wrong'] as const) t[k] += r[k]
  }
  return TRANSPORTS.map((t) => total.get(t)).filter((r): r is TransportRow => r !== undefined)
}
