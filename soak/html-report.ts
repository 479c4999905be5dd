import type { Options } from './options'
import type { RunResult } from './run'
import { PHASE_HEADER, perPacket, phaseCells, ROW_HEADER, rowCells, rssText, serverLines, sustainedText, totalRow, type Verdict } from './summary'

/*
 * The report: one self-contained HTML page (inline CSS and SVG, no script,
 * nothing fetched), so it can be archived or mailed as it is.
 */

interface Series {
  name: string
  color: string
  points: [number, number][]
}

const W = 900
const H = 236
const M = { left: 70, right: 20, top: 44, bottom: 30 }

const escape = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!)

/** A round upper bound for an axis: 1, 2 or 5 times a power of ten. */
function niceMax(v: number): number {
  if (!(v > 0)) return 1
  const p = 10 ** Math.floor(Math.log10(v))
  return [1, 2, 5, 10].map((m) => m * p).find((n) => n >= v)!
}

function compact(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`
  return `${+v.toFixed(1)}`
}

/** A line chart of several series over the run's time (seconds); phase boundaries as faint lines. */
function lineChart(title: string, unit: string, series: Series[], endSeconds: number, boundaries: number[] = []): string {
  const xMax = Math.max(1, endSeconds)
  const yMax = niceMax(Math.max(0, ...series.flatMap((s) => s.points.map((p) => p[1]))))
  const x = (t: number) => M.left + (t / xMax) * (W - M.left - M.right)
  const y = (v: number) => H - M.bottom - (v / yMax) * (H - M.top - M.bottom)
  const parts: string[] = []
  parts.push(`<text x="${M.left}" y="16" class="title">${escape(title)}</text>`)
  for (let i = 0; i <= 4; i++) {
    const v = (yMax * i) / 4
    parts.push(`<line x1="${M.left}" x2="${W - M.right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`)
    parts.push(`<text x="${M.left - 6}" y="${y(v) + 4}" class="tick" text-anchor="end">${compact(v)}${escape(unit)}</text>`)
  }
  for (let i = 0; i <= 6; i++) {
    const t = (xMax * i) / 6
    parts.push(`<text x="${x(t)}" y="${H - 10}" class="tick" text-anchor="middle">${Math.round(t)}s</text>`)
  }
  for (const b of boundaries) parts.push(`<line x1="${x(b)}" x2="${x(b)}" y1="${M.top}" y2="${H - M.bottom}" class="phase"/>`)
  series.forEach((s, i) => {
    if (s.points.length > 0) {
      const d = s.points.map(([t, v]) => `${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(' ')
      parts.push(`<polyline points="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"/>`)
    }
    parts.push(`<rect x="${M.left + 190 * i}" y="24" width="10" height="10" fill="${s.color}"/>`)
    parts.push(`<text x="${M.left + 190 * i + 14}" y="33" class="tick">${escape(s.name)}</text>`)
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-label="${escape(title)}">${parts.join('')}</svg>`
}

function htmlTable(header: string[], rows: (string | number)[][]): string {
  const head = header.map((h) => `<th>${escape(h)}</th>`).join('')
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escape(String(c))}</td>`).join('')}</tr>`).join('')
  return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`
}

export function htmlReport(result: RunResult, v: Verdict, options: Options, argv: string[]): string {
  const s = result.samples
  const end = (s.at(-1)?.t ?? 0) / 1000
  const at = (f: (x: (typeof s)[number]) => number | null): [number, number][] =>
    s.flatMap((x) => (f(x) === null ? [] : [[x.t / 1000, f(x)!] as [number, number]]))
  const boundaries: number[] = []
  for (let i = 1; i < s.length; i++) if (s[i]!.phase !== s[i - 1]!.phase) boundaries.push(s[i]!.t / 1000)
  const charts = [
    lineChart('Send and receive rate', '/s', [
      { name: 'sent lines/s', color: '#1f77b4', points: at((x) => x.sendRate) },
      { name: 'received lines/s', color: '#2ca02c', points: at((x) => x.receiveRate) },
    ], end, boundaries),
    lineChart('Loss (lines sent over two flushes ago, not yet seen) and drops the server reported', '', [
      { name: 'not seen', color: '#d62728', points: at((x) => x.lost) },
      { name: 'server-reported drops', color: '#ff7f0e', points: at((x) => x.reported) },
    ], end, boundaries),
    lineChart('Server RSS', ' MiB', [{ name: 'RSS', color: '#9467bd', points: at((x) => (x.rss === null ? null : x.rss / 1048576)) }], end, boundaries),
    lineChart('Server CPU (100% = one core)', '%', [{ name: 'CPU', color: '#8c564b', points: at((x) => x.cpu) }], end, boundaries),
    lineChart('Flush lag (arrival at Graphite after the flush was due)', ' ms', [
      { name: 'lag', color: '#17becf', points: result.lags.map((l) => [l.t / 1000, l.lagMs] as [number, number]) },
    ], end, boundaries),
  ]
  const sustained = [...result.sustained].map(([P, r]) => `<li>${perPacket(P)}: <b>${escape(sustainedText(result, P, r))}</b></li>`).join('')
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>statsd soak report</title>
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px; color: #222; max-width: 960px; }
h1 { font-size: 20px; } h2 { font-size: 16px; margin-top: 28px; }
.verdict { padding: 8px 12px; border-radius: 4px; font-weight: bold; }
.pass { background: #e3f6e3; color: #1a6b1a; } .fail { background: #fbe3e3; color: #8b1a1a; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
td:first-child, th:first-child { text-align: left; } th { background: #f4f4f4; }
svg { display: block; margin: 12px 0; } .title { font-weight: bold; font-size: 13px; }
.tick { font-size: 11px; fill: #555; } .grid { stroke: #eee; } .phase { stroke: #bbb; stroke-dasharray: 3 3; }
code { background: #f4f4f4; padding: 1px 4px; }
</style></head><body>
<h1>statsd soak report</h1>
<p class="verdict ${v.ok ? 'pass' : 'fail'}">${v.ok ? 'PASS: nothing lost silently, nothing extra or wrong, RSS held' : 'FAIL: ' + escape(v.reasons.join('; '))}</p>
<p>Started ${new Date(result.startedAt).toISOString()}, ${(end / 60).toFixed(1)} min. Command: <code>statsd-soak ${escape(argv.join(' '))}</code>.
Transports: ${result.transports.join(', ')}; ${options.keys} keys; ${options.chaos ? `chaos: ${result.outages} Graphite outages, malformed lines between good ones; ` : ''}${options.token !== undefined ? 'auth token on every line; ' : ''}mode: ${options.ramp ? 'ramp' : 'steady'}.</p>
${sustained === '' ? '' : `<h2>Sustained rate (highest rate with no loss)</h2><ul>${sustained}</ul>`}
<h2>Per transport</h2>
<p><i>lost</i>: lines sent whose values never arrived; <i>reported</i>: of those, covered by the server's own drop figures;
<i>silent</i>: the rest (must be 0); <i>kernel</i>: of the silent UDP lines, dropped by the kernel at the server's socket
(seen in /proc/net/udp, not reported by the server); <i>extra</i>: values beyond what was sent; <i>wrong</i>: values that fail a check.</p>
${htmlTable(ROW_HEADER, [...v.rows, totalRow(v.rows)].map(rowCells))}
<h2>Phases</h2>
${htmlTable(PHASE_HEADER, result.phases.map(phaseCells))}
<ul>${serverLines(result).map((l) => `<li>${escape(l)}</li>`).join('')}<li>server RSS: ${escape(rssText(v, options))}</li></ul>
${result.ledger.examples.length > 0 ? `<h2>Examples</h2><pre>${escape(result.ledger.examples.join('\n'))}</pre>` : ''}
<h2>Over time</h2>
${charts.join('\n')}
</body></html>
`
}
