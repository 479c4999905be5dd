import type { StatusSnapshot } from '../../core/server-control'

/*
 * The status page: one self-contained HTML document rendered on the server,
 * so it reads the same with JavaScript off; a few lines of script reload it.
 * No external assets, so it works on an air-gapped host and under a strict CSP.
 */

const REFRESH_MS = 5_000
/** Flush intervals shown in the rates table, newest first. */
const INTERVALS_SHOWN = 10

/** The document up to <body>: the style and the reload script every admin page shares (the relay's too). */
export function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222;max-width:70em}
h1{font-size:1.4em;margin:0 0 .3em}h2{font-size:1.1em;margin:1.4em 0 .4em;border-bottom:1px solid #ccc}
table{border-collapse:collapse}td,th{padding:.2em .8em .2em 0;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.up{color:#176b2c;font-weight:bold}.down{color:#b3261e;font-weight:bold}code{font-size:.95em;background:#f3f3f3}
.muted{color:#666}
</style>
<script>setInterval(function(){fetch(location.href).then(function(r){return r.text()}).then(function(h){
document.body.innerHTML=new DOMParser().parseFromString(h,'text/html').body.innerHTML}).catch(function(){})},${REFRESH_MS})</script>
</head><body>`
}

export function renderStatusPage(s: StatusSnapshot): string {
  const { info, aggregator: a } = s
  const last = s.flushes[s.flushes.length - 1]
  const drops = Object.entries(s.selfTotals).filter(([, v]) => v > 0)
  return `${pageHead(`${esc(info.name)} status`)}
<h1>${esc(info.name)} ${esc(info.version)} <span class="muted">pid ${info.pid}</span></h1>
<table id="summary">
${row('Health', `<span class="${s.health.status}">${s.health.status}</span>${s.health.reason ? ' (' + esc(s.health.reason) + ')' : ''}`)}
${row('Ready', s.ready.ready ? '<span class="up">yes</span>' : `<span class="down">no</span>: ${esc(s.ready.reasons.join('; '))}`)}
${row('Uptime', `<span id="uptime">${duration(s.uptimeS)}</span>`)}
${row('Config', `<code>${esc(info.configSource)}</code> (${info.configFormat})`)}
${row('Flush interval', `${info.flushIntervalMs / 1000} s`)}
${row('Last flush', last ? `<span id="last-flush">${new Date(last.at).toISOString()}</span>, took ${last.durationMs.toFixed(1)} ms` : 'none yet')}
${row('Processed since start', `<span id="total-packets">${a.packets}</span> packets, <span id="total-lines">${a.lines}</span> lines, ${a.bytes} bytes`)}
${row('Queue', `${s.queue.packets} packets, ${s.queue.bytes} bytes waiting`)}
${row('Keys held', `${a.keys.counters} counters, ${a.keys.timers} timers, ${a.keys.gauges} gauges, ${a.keys.sets} sets`)}
</table>

<h2>Listeners</h2>
<table id="listeners"><tr><th>Listener</th><th>Bound</th><th class="n">Packets</th><th class="n">Bytes</th><th class="n">Auth failures</th><th class="n">Connections</th></tr>
${s.listeners.map((l) => `<tr><td><code>${esc(l.description)}</code></td><td>${l.bound ? 'yes' : 'no'}</td>${num(l.packets)}${num(l.bytes)}${num(l.authFailures)}${num(l.connectionsOpen)}</tr>`).join('\n')}
</table>

<h2>Last intervals</h2>
<table id="intervals"><tr><th>Flushed at</th><th class="n">Packets/s</th><th class="n">Lines/s</th><th class="n">Bytes/s</th><th class="n">Bad lines</th><th class="n">Flush ms</th><th class="n">Late ms</th></tr>
${s.flushes.slice(-INTERVALS_SHOWN).reverse().map((f) => {
    const per = (n: number): string => (n / (info.flushIntervalMs / 1000)).toFixed(1)
    return `<tr><td>${new Date(f.at).toISOString().slice(11, 19)}</td><td class="n">${per(f.packets)}</td><td class="n">${per(f.lines)}</td><td class="n">${per(f.bytes)}</td><td class="n">${f.badLines}</td><td class="n">${f.durationMs.toFixed(1)}</td><td class="n">${f.lagMs}</td></tr>`
  }).join('\n')}
</table>

<h2>Drops and bad lines</h2>
<table id="bad-lines"><tr><th>Bad lines by reason</th><th class="n">Since start</th></tr>
${Object.entries(a.badLinesByReason).sort(([r1, n1], [r2, n2]) => n2 - n1 || r1.localeCompare(r2)).map(([reason, n]) => `<tr><td>${esc(reason)}</td><td class="n">${n}</td></tr>`).join('\n') || '<tr><td colspan="2" class="muted">none</td></tr>'}
</table>
<table id="drops"><tr><th>Other drops and refusals</th><th class="n">Since start</th></tr>
${drops.map(([name, n]) => `<tr><td>${esc(name)}</td><td class="n">${n}</td></tr>`).join('\n') || '<tr><td colspan="2" class="muted">none</td></tr>'}
</table>
<p>Latest bad lines:</p>
<table id="recent-bad-lines">
${a.recentBadLines.slice().reverse().map((b) => `<tr><td>${new Date(b.at).toISOString().slice(11, 19)}</td><td>${esc(b.reason)}</td><td><code>${esc(JSON.stringify(b.line))}</code></td></tr>`).join('\n') || '<tr><td class="muted">none</td></tr>'}
</table>

<h2>DogStatsD events and service checks</h2>
<p>Events: ${a.events.received} received, ${a.events.rateLimited} over the rate limit. Service checks: ${a.serviceChecks.received} received, ${a.serviceChecks.rateLimited} over the rate limit. As JSON: <a href="events">/events</a>, <a href="service_checks">/service_checks</a>.</p>
<table id="events"><tr><th>Time</th><th>Alert</th><th>Title</th><th>Text</th><th>Tags</th></tr>
${a.events.recent.slice(-20).reverse().map((e) => `<tr><td>${new Date(e.timestamp * 1000).toISOString().slice(0, 19)}</td><td>${esc(e.alertType)}</td><td>${esc(e.title)}</td><td>${esc(e.text)}</td><td>${esc(e.tags.join(', '))}</td></tr>`).join('\n') || '<tr><td colspan="5" class="muted">none</td></tr>'}
</table>
<table id="service-checks"><tr><th>Time</th><th>Check</th><th>Status</th><th>Message</th><th>Tags</th></tr>
${a.serviceChecks.recent.slice(-20).reverse().map((c) => `<tr><td>${new Date(c.timestamp * 1000).toISOString().slice(0, 19)}</td><td>${esc(c.name)}</td><td>${['OK', 'WARNING', 'CRITICAL', 'UNKNOWN'][c.status]}</td><td>${esc(c.message ?? '')}</td><td>${esc(c.tags.join(', '))}</td></tr>`).join('\n') || '<tr><td colspan="5" class="muted">none</td></tr>'}
</table>

<h2>Busiest keys of the last flush with traffic</h2>
<table id="busiest"><tr><th>Key</th><th class="n">Values</th></tr>
${a.busiestKeys.map((k) => `<tr><td><code>${esc(k.name)}</code></td><td class="n">${k.values}</td></tr>`).join('\n') || '<tr><td colspan="2" class="muted">none</td></tr>'}
</table>

<h2>Backends</h2>
<table id="backends"><tr><th>Backend</th><th>Target</th><th>Last success</th><th>Last failure</th><th class="n">Sent</th><th class="n">Failed</th><th class="n">Dropped</th><th class="n">Undelivered bytes</th></tr>
${s.backends.map((b) => `<tr><td>${esc(b.name)}</td><td><code>${esc(b.target)}</code></td><td>${when(b.lastSuccess)}</td><td>${when(b.lastFailure)}</td><td class="n">${b.flushesSent}</td><td class="n">${b.flushesFailed}</td><td class="n">${b.flushesDropped}</td><td class="n">${b.undeliveredBytes}</td></tr>`).join('\n')}
</table>
<p class="muted">Rendered ${new Date().toISOString()}; reloads every ${REFRESH_MS / 1000} s with JavaScript on. JSON: <a href="/info">/info</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
`
}

function row(label: string, html: string): string {
  return `<tr><th>${label}</th><td>${html}</td></tr>`
}

function num(n: number | undefined): string {
  return `<td class="n">${n === undefined ? '<span class="muted">–</span>' : n}</td>`
}

function when(ms: number): string {
  return ms > 0 ? new Date(ms).toISOString() : '<span class="muted">never</span>'
}

function duration(seconds: number): string {
  const d = Math.floor(seconds / 86400)
  const h = Math.floor((seconds % 86400) / 3600)
  const m = Math.floor((seconds % 3600) / 60)
  return `${d > 0 ? d + 'd ' : ''}${h}h ${m}m ${seconds % 60}s`
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)
}
