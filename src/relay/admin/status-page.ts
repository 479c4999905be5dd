import { esc, pageHead } from '../../admin/http/status-page'
import type { RelayStatus } from './relay-control'

/* The relay's status page: self-contained HTML with the server's head (no assets, reloads with JavaScript on). */

export function renderRelayStatusPage(s: RelayStatus): string {
  const node = (n: RelayStatus['nodes'][number]): string =>
    `<tr><td><code>${esc(n.id)}</code></td><td class="${n.up ? 'up' : 'down'}">${n.up ? 'up' : 'down'}</td><td>${esc(n.reason)}</td>` +
    `<td>${new Date(n.since).toISOString()}</td>` +
    [n.forwarded, n.rehashed, n.held, n.replayed, n.dropped, n.sendFailed, n.heldLines, n.heldBytes].map((v) => `<td class="n">${v}</td>`).join('') +
    '</tr>'
  return `${pageHead('statsd-ts relay status')}
<h1>statsd-ts ${esc(s.version)} relay <span class="muted">pid ${s.pid}</span></h1>
<table id="summary">
<tr><th>Health</th><td class="${s.health.status}">${s.health.status}${s.health.reason ? ` (${esc(s.health.reason)})` : ''}</td></tr>
<tr><th>Uptime</th><td>${s.uptimeS} s</td></tr>
<tr><th>Config</th><td><code>${esc(s.configSource)}</code></td></tr>
<tr><th>Down policy</th><td>${s.policy}; forwarding over ${s.forward}</td></tr>
<tr><th>Received</th><td id="received">${s.received.packets} packets, ${s.received.lines} lines, ${s.received.bytes} bytes</td></tr>
<tr><th>Dropped on arrival</th><td>${s.queue.droppedPackets} packets (queue full), ${s.oversizedLines} lines too long</td></tr>
<tr><th>Ring</th><td>${s.ring.map((id) => `<code>${esc(id)}</code>`).join(' ') || 'empty: no node is up'}</td></tr>
</table>
<h2>Nodes</h2>
<table id="nodes"><tr><th>Node</th><th>State</th><th>Reason</th><th>Since</th><th class="n">Forwarded</th><th class="n">Re-hashed</th><th class="n">Held</th><th class="n">Replayed</th><th class="n">Dropped</th><th class="n">Send failed</th><th class="n">Holding lines</th><th class="n">Holding bytes</th></tr>
${s.nodes.map(node).join('\n')}
</table>
<h2>Listeners</h2>
<table id="listeners">${s.listeners.map((l) => `<tr><td><code>${esc(l.description)}</code></td></tr>`).join('\n')}</table>
<p class="muted">Counts are lines since start, under the node each name hashes to. JSON: <a href="/info">/info</a>, <a href="/metrics">/metrics</a>.</p>
</body></html>
`
}
