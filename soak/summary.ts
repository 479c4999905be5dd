import { sumRows, type TransportRow } from './attribution'
import type { Options } from './options'
import type { RunResult } from './run'

/** The pass/fail decision and the figures it rests on. */
export interface Verdict {
  ok: boolean
  reasons: string[]
  rows: TransportRow[]
  rss: { start: number | null; warm: number | null; end: number | null; growth: number | null; judged: boolean }
}

/** RSS growth under this many bytes is noise (GC, allocator), whatever the percentage. */
const RSS_SLACK_BYTES = 16 * 1024 * 1024
/** A shorter watch after warm-up cannot tell a leak from the heap settling: RSS is then shown, not judged. */
const RSS_MIN_WATCH_MS = 60_000

export function verdict(result: RunResult, options: Options): Verdict {
  const reasons: string[] = [...result.harnessErrors]
  const rows = sumRows(result.phases.flatMap((p) => p.rows))
  const sum = (k: keyof Omit<TransportRow, 'transport'>) => rows.reduce((s, r) => s + r[k], 0)
  // A ramp overloads the server on purpose: losses there find the limit; corruption still fails.
  if (!options.ramp && sum('silent') > 0) {
    const kernel = sum('kernelSeen')
    reasons.push(`${sum('silent')} lines lost silently` + (kernel > 0 ? ` (${kernel} of them dropped by the kernel at the server's UDP socket, which the server did not report)` : ''))
  }
  if (sum('extra') > 0) reasons.push(`${sum('extra')} lines' worth of values arrived that were never sent`)
  if (sum('wrong') > 0) reasons.push(`${sum('wrong')} wrong values`)
  if (result.ledger.unknownNames > 0) reasons.push(`${result.ledger.unknownNames} metric names the harness never sent`)
  const malformed = result.phases.reduce((s, p) => s + p.malformedSent, 0)
  const bad = result.phases.reduce((s, p) => s + p.badLines, 0)
  if (bad < malformed) reasons.push(`${malformed - bad} malformed lines were not counted in bad_lines_seen`)
  if (options.ramp) {
    for (const [P, rate] of result.sustained) if (rate === null) reasons.push(`--ramp found no clean rate at ${perPacket(P)}`)
  }

  const withRss = result.samples.filter((s) => s.rss !== null)
  const start = withRss[0]?.rss ?? null
  const warm = withRss.find((s) => s.t >= options.warmupMs)?.rss ?? null
  const end = withRss.at(-1)?.rss ?? null
  const growth = warm !== null && end !== null ? (end - warm) / warm : null
  // A ramp changes the load all the time (and overloads on purpose): its RSS is shown, not judged.
  const judged = !options.ramp && growth !== null && (withRss.at(-1)?.t ?? 0) - options.warmupMs >= RSS_MIN_WATCH_MS
  if (judged && growth! > options.maxRssGrowth && end! - warm! > RSS_SLACK_BYTES) {
    reasons.push(`server RSS grew ${(growth * 100).toFixed(0)}% after warm-up (limit ${(options.maxRssGrowth * 100).toFixed(0)}%)`)
  }
  return { ok: reasons.length === 0, reasons, rows, rss: { start, warm, end, growth, judged } }
}

/** "start 60 MiB, after warm-up 80 MiB, end 90 MiB (+12.5% after warm-up, limit 25%)" */
export function rssText(v: Verdict, options: Options): string {
  const { start, warm, end, growth, judged } = v.rss
  const change = growth === null ? '' : ` (${growth >= 0 ? '+' : ''}${(growth * 100).toFixed(1)}% after warm-up, ` +
    (judged ? `limit ${(options.maxRssGrowth * 100).toFixed(0)}%)` : options.ramp ? 'not judged in a ramp)' : 'not judged: under a minute watched after warm-up)')
  return `start ${mib(start)}, after warm-up ${mib(warm)}, end ${mib(end)}${change}`
}

export const perPacket = (P: number): string => `${P} ${P === 1 ? 'line' : 'lines'} per packet`

/** "4000 lines/s", or why there is none: the best clean step, and how much the holds lost. */
export function sustainedText(result: RunResult, P: number, rate: number | null): string {
  if (rate !== null) return `${Math.round(rate)} lines/s`
  const phases = result.phases.filter((p) => p.linesPerPacket === P)
  const best = Math.max(0, ...phases.filter((p) => p.clean).map((p) => p.targetRate))
  const holds = phases.filter((p) => p.id.includes('hold')).map((p) => totalRow(p.rows))
  const lost = holds.reduce((s, r) => s + r.lost, 0)
  const sent = holds.reduce((s, r) => s + r.sent, 0)
  return `none found` + (best > 0 ? ` (best clean ${result.phases[0]!.sendMs / 1000} s step: ${Math.round(best)} lines/s` +
    (sent > 0 ? `; longer holds lost ${((lost / sent) * 100).toFixed(2)}% of their lines` : '') + ')' : '')
}

export const mib = (b: number | null): string => (b === null ? 'n/a' : `${(b / 1048576).toFixed(1)} MiB`)

function table(header: string[], body: (string | number)[][]): string {
  const cells = [header, ...body.map((r) => r.map(String))]
  const widths = header.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)))
  return cells.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ')).join('\n')
}

export const ROW_HEADER = ['transport', 'sent', 'received', 'lost', 'reported', 'silent', 'kernel', 'extra', 'wrong']

export function rowCells(r: TransportRow): (string | number)[] {
  return [r.transport, r.sent, r.received, r.lost, r.reported, r.silent, r.kernelSeen, r.extra, r.wrong]
}

export function totalRow(rows: TransportRow[]): TransportRow {
  const t: TransportRow = { transport: 'total' as TransportRow['transport'], sent: 0, received: 0, lost: 0, reported: 0, silent: 0, kernelSeen: 0, extra: 0, wrong: 0 }
  for (const r of rows) for (const k of ['sent', 'received', 'lost', 'reported', 'silent', 'kernelSeen', 'extra', 'wrong'] as const) t[k] += r[k]
  return t
}

export const PHASE_HEADER = ['phase', 'lines/packet', 'target/s', 'achieved/s', 'lost', 'reported', 'silent', 'extra', 'wrong', 'clean']

export function phaseCells(p: RunResult['phases'][number]): (string | number)[] {
  const t = totalRow(p.rows)
  return [p.id, p.linesPerPacket, Math.round(p.targetRate), Math.round(p.achievedRate), t.lost, t.reported, t.silent, t.extra, t.wrong, p.clean ? 'yes' : 'no']
}

/** Flush lag: median and maximum, in ms. */
export function lagFigures(result: RunResult): { median: number; max: number } | null {
  if (result.lags.length === 0) return null
  const sorted = result.lags.map((l) => l.lagMs).sort((a, b) => a - b)
  return { median: sorted[sorted.length >> 1]!, max: sorted.at(-1)! }
}

/** Flushes in the server's schedule, between the first and the last received, that never arrived. */
export function missingFlushes(result: RunResult): number {
  const seen = new Set(result.lags.map((l) => l.flush))
  if (seen.size === 0) return 0
  return Math.max(...seen) - Math.min(...seen) + 1 - seen.size
}

export function serverLines(result: RunResult): string[] {
  const malformed = result.phases.reduce((s, p) => s + p.malformedSent, 0)
  const bad = result.phases.reduce((s, p) => s + p.badLines, 0)
  const drops = new Map<string, number>()
  for (const p of result.phases) for (const [n, v] of p.drops) drops.set(n, (drops.get(n) ?? 0) + v)
  const kernel = result.phases.reduce<number | null>((s, p) => (p.kernelDrops === null ? s : (s ?? 0) + p.kernelDrops), null)
  const lag = lagFigures(result)
  const l = result.ledger
  return [
    `server reported: bad_lines_seen ${bad} (malformed lines sent on purpose: ${malformed})` +
      (drops.size > 0 ? `; ${[...drops].map(([n, v]) => `${n} ${v}`).join(', ')}` : '; no drop self-metrics in its output'),
    `kernel drops at the server's UDP socket (/proc/net/udp): ${kernel === null ? 'not measurable' : kernel}`,
    `harness send errors (lines not expected): ${[...result.sendErrors].map(([t, n]) => `${t} ${n}`).join(', ')}`,
    `graphite: ${result.receiver.connections} connections, ${result.lags.length} flushes (${missingFlushes(result)} missing), lag median ${lag?.median ?? '-'} ms max ${lag?.max ?? '-'} ms, ` +
      `${l.duplicates} re-sent values ignored, ${l.outOfOrder} out of order, ${result.outages} receiver restarts, ${result.receiver.malformedLines} cut/malformed lines`,
  ]
}

export function summaryText(result: RunResult, v: Verdict, options: Options): string {
  const out: string[] = []
  out.push(table(PHASE_HEADER, result.phases.map(phaseCells)))
  out.push('')
  out.push(table(ROW_HEADER, [...v.rows, totalRow(v.rows)].map(rowCells)))
  out.push('')
  out.push(...serverLines(result))
  for (const [P, rate] of result.sustained) out.push(`sustained rate (no loss) at ${perPacket(P)}: ${sustainedText(result, P, rate)}`)
  out.push(`server RSS: ${rssText(v, options)}`)
  if (result.ledger.examples.length > 0) out.push('examples:', ...result.ledger.examples.map((e) => '  ' + e))
  out.push(v.ok ? 'PASS: nothing lost silently, nothing extra or wrong, RSS held' : `FAIL: ${v.reasons.join('; ')}`)
  return out.join('\n')
}
