#!/usr/bin/env bash
# The Debian package, end to end: build it from a clean copy of this checkout
# with dpkg-buildpackage, run lintian, install it with dpkg -i, check its files,
# user and conffile, run the installed server as the service user with the
# unit's ExecStart command line, send metrics over UDP, TCP and the Unix socket
# to a local Graphite receiver (and through a statsd-ts@relay instance, run
# from the template unit's command line with its own runtime directory), stop
# it with SIGTERM, then remove and purge the
# package and check that nothing is left behind.
#
# Needs root and the build dependencies (debhelper, dpkg-dev, lintian, systemd
# for systemd-analyze, nodejs >= 20); .ci/run installs them. systemd itself is
# not running here, so the test starts the service's command line by hand.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/e2e.sh
. "$repo/scripts/lib/e2e.sh"
work=$(mktemp -d /tmp/statsd-ts-deb.XXXXXX)
chmod 0755 "$work"
unit=/lib/systemd/system/statsd-ts.service
template=/lib/systemd/system/statsd-ts@.service
pids=()

step() { printf '== %s\n' "$*"; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Never leave a half-tested package installed.
  if dpkg-query -W -f='${Status}' statsd-ts 2>/dev/null | grep -qv 'not-installed'; then dpkg -P statsd-ts >/dev/null || true; fi
  rm -rf "$work"
}

if dpkg-query -W -f='${Status}' statsd-ts 2>/dev/null | grep -q 'installed'; then
  fail 'statsd-ts is already installed on this machine; this test installs and purges it, so it stops here'
fi
trap cleanup EXIT

step 'build the package from a clean copy of the checkout'
mkdir "$work/src"
(cd "$repo" && git ls-files -z --cached --others --exclude-standard) | while IFS= read -r -d '' file; do
  if [ -e "$repo/$file" ]; then (cd "$repo" && cp --parents -t "$work/src" -- "$file"); fi
done
(cd "$work/src" && dpkg-buildpackage -us -uc -b) >"$work/build.log" 2>&1 || {
  tail -n 60 "$work/build.log"
  fail 'dpkg-buildpackage'
}
version=$(dpkg-parsechangelog -l "$repo/debian/changelog" -S Version)
deb="$work/statsd-ts_${version}_$(dpkg --print-architecture).deb"
[ -f "$deb" ] || fail "no $deb"
echo "built $(basename "$deb")"

step 'lintian (errors and warnings fail the test; overrides say why)'
lintian --fail-on error,warning --info "$work"/statsd-ts_*.changes || fail 'lintian'

step 'install with dpkg -i'
dpkg -i "$deb"
for f in /usr/bin/statsd-ts /usr/lib/statsd-ts/package.json /usr/lib/statsd-ts/build/src/main.js \
  /usr/lib/statsd-ts/node_modules/pino/package.json /usr/lib/statsd-ts/node_modules/zod/package.json \
  /etc/statsd-ts/config.json /etc/default/statsd-ts "$unit" /usr/share/man/man1/statsd-ts.1.gz \
  /usr/lib/statsd-ts/node_modules/hashring/package.json "$template" /etc/statsd-ts/relay.json /etc/default/statsd-ts-relay \
  /usr/share/doc/statsd-ts/copyright; do
  [ -e "$f" ] || fail "missing $f"
done
# Only the compiled JavaScript and the production dependencies.
for f in /usr/lib/statsd-ts/src /usr/lib/statsd-ts/build/test /usr/lib/statsd-ts/build/bench \
  /usr/lib/statsd-ts/node_modules/typescript /usr/lib/statsd-ts/node_modules/tap /usr/lib/statsd-ts/node_modules/statsd; do
  [ ! -e "$f" ] || fail "the package should not ship $f"
done
[ -z "$(find /usr/lib/statsd-ts -name '*.ts' -o -name '*.map')" ] || fail 'TypeScript sources or source maps shipped'
dpkg-query -W -f='${Conffiles}\n' statsd-ts | grep -q '^ /etc/statsd-ts/config.json ' || fail 'config.json is not a conffile'
# The receive-buffer sysctl ships commented out: a conffile that changes nothing until the admin says so.
dpkg-query -W -f='${Conffiles}\n' statsd-ts | grep -q '^ /etc/sysctl.d/60-statsd-ts.conf ' || fail '60-statsd-ts.conf is not a conffile'
! grep -v '^#' /etc/sysctl.d/60-statsd-ts.conf | grep -q . || fail '60-statsd-ts.conf sets something'
grep -q '^#net.core.rmem_max = ' /etc/sysctl.d/60-statsd-ts.conf || fail '60-statsd-ts.conf lacks net.core.rmem_max'
getent passwd _statsd-ts | grep -q ':/nonexistent:/usr/sbin/nologin$' || fail "user: $(getent passwd _statsd-ts)"
getent group _statsd-ts >/dev/null || fail 'no _statsd-ts group'
[ -L /etc/systemd/system/multi-user.target.wants/statsd-ts.service ] || fail 'the service is not enabled'
[ "$(/usr/bin/statsd-ts --version)" = "statsd-ts ${version%%-*}" ] || fail "--version: $(/usr/bin/statsd-ts --version)"

step 'systemd-analyze verify'
systemd-analyze verify "$unit" || fail 'systemd-analyze verify'
# A template is verified as one of its instances.
cp "$template" "$work/statsd-ts@relay.service"
systemd-analyze verify "$work/statsd-ts@relay.service" || fail 'systemd-analyze verify statsd-ts@relay'

step 'the shipped config loads, as the service user'
as_service() { setpriv --reuid=_statsd-ts --regid=_statsd-ts --init-groups -- "$@"; }
as_service /usr/bin/statsd-ts --check-config /etc/statsd-ts/config.json
. /etc/default/statsd-ts
[ "$CONFIG" = /etc/statsd-ts/config.json ] || fail "/etc/default/statsd-ts: CONFIG=$CONFIG"

step 'run the unit ExecStart as the service user'
# A local Graphite receiver, appending what it receives to a file.
node -e '
  const fs = require("fs"), net = require("net")
  const server = net.createServer((s) => s.on("data", (d) => fs.appendFileSync(process.argv[1], d)))
  server.listen(0, "127.0.0.1", () => fs.writeFileSync(process.argv[2], String(server.address().port)))
' "$work/graphite.txt" "$work/graphite.port" &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/graphite.port" ] && break; sleep 0.1; done
graphite_port=$(cat "$work/graphite.port")
# The shipped config with free ports (8125 may be taken here) and this receiver; same Unix socket path.
mkdir -m 0755 "$work/etc"
node -e '
  const fs = require("fs")
  const config = JSON.parse(fs.readFileSync("/etc/statsd-ts/config.json", "utf8"))
  for (const l of config.listeners) if (l.type !== "unix") l.port = 0
  for (const b of config.backends) if (b.type === "graphite") b.port = Number(process.argv[2])
  fs.writeFileSync(process.argv[1], JSON.stringify(config))
' "$work/etc/config.json" "$graphite_port"
chmod 0644 "$work/etc/config.json"
# What systemd does for RuntimeDirectory=statsd-ts.
install -d -o _statsd-ts -g _statsd-ts -m 0755 /run/statsd-ts
CONFIG=$work/etc/config.json
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
exec_start_pre=$(sed -n 's/^ExecStartPre=//p' "$unit")
# shellcheck disable=SC2086 # the unit's command lines are split on spaces, as systemd splits them
as_service ${exec_start_pre//'${CONFIG}'/$CONFIG} >/dev/null
# Not through as_service: a function in the background is a subshell, and $! must be the server itself.
# shellcheck disable=SC2086
setpriv --reuid=_statsd-ts --regid=_statsd-ts --init-groups -- ${exec_start//'${CONFIG}'/$CONFIG} 2>"$work/server.log" &
server=$!
pids+=("$server")
wait_until_up "$work/server.log"
[ "$(stat -c '%U %A' /run/statsd-ts/statsd.sock)" = '_statsd-ts srw-rw-rw-' ] ||
  fail "socket: $(stat -c '%U %A' /run/statsd-ts/statsd.sock)"
send_metrics "$work/server.log" udp $'deb.udp:1|c\ndeb.timer:5|ms' tcp $'deb.tcp:2|c\n' \
  /run/statsd-ts/statsd.sock $'deb.unix:3|c\ndeb.gauge:7|g\n'

step 'the statsd-ts@relay instance: its own runtime directory, in front of the server'
as_service /usr/bin/statsd-ts --check-config /etc/statsd-ts/relay.json
( . /etc/default/statsd-ts-relay && [ "$CONFIG" = /etc/statsd-ts/relay.json ] ) || fail '/etc/default/statsd-ts-relay: CONFIG'
server_udp=$(grep -o '"udp 127.0.0.1:[0-9]*"' "$work/server.log" | head -n1 | tr -dc '0-9.:' | sed 's/.*://')
# The shipped relay config on free ports, in front of the server started above (never health-checked
# here: the server's admin port may be taken on this machine); same Unix socket path.
node -e '
  const fs = require("fs")
  const config = JSON.parse(fs.readFileSync("/etc/statsd-ts/relay.json", "utf8"))
  for (const l of config.listeners) if (l.type !== "unix") l.port = 0
  config.relay.nodes = [{ host: "127.0.0.1", port: Number(process.argv[2]) }]
  config.admin.port = 0
  config.mgmt.port = 0
  fs.writeFileSync(process.argv[1], JSON.stringify(config))
' "$work/etc/relay.json" "$server_udp"
chmod 0644 "$work/etc/relay.json"
# What systemd does for RuntimeDirectory=statsd-ts-%i.
install -d -o _statsd-ts -g _statsd-ts -m 0755 /run/statsd-ts-relay
relay_start=$(sed -n 's/^ExecStart=//p' "$template")
# shellcheck disable=SC2086
setpriv --reuid=_statsd-ts --regid=_statsd-ts --init-groups -- ${relay_start//'${CONFIG}'/$work/etc/relay.json} 2>"$work/relay.log" &
relay=$!
pids+=("$relay")
wait_until_up "$work/relay.log"
send_metrics "$work/relay.log" udp $'deb.relayed_udp:1|c' /run/statsd-ts-relay/statsd.sock $'deb.relayed:4|c\ndeb.relayed:5|c\n'
stop_server "$relay" "$work/relay.log"
[ ! -e /run/statsd-ts-relay/statsd.sock ] || fail 'the relay left its socket file behind'
[ -S /run/statsd-ts/statsd.sock ] || fail "stopping the relay removed the server's socket"

step 'SIGTERM: the final flush reaches Graphite'
stop_server "$server" "$work/server.log"
for line in 'stats_counts.deb.udp 1' 'stats_counts.deb.relayed 9' 'stats_counts.deb.relayed_udp 1' 'stats_counts.deb.tcp 2' 'stats_counts.deb.unix 3' 'stats.gauges.deb.gauge 7' 'stats.timers.deb.timer.upper 5'; do
  grep -q "^$line " "$work/graphite.txt" || {
    cat "$work/graphite.txt"
    fail "Graphite did not receive: $line"
  }
done
[ ! -e /run/statsd-ts/statsd.sock ] || fail 'the socket file was left behind'
echo "graphite received $(wc -l <"$work/graphite.txt") lines"

step 'remove keeps the conffile; purge leaves nothing behind'
dpkg -r statsd-ts
[ ! -e /usr/lib/statsd-ts ] && [ ! -e /usr/bin/statsd-ts ] || fail 'files left after remove'
[ -e /etc/statsd-ts/config.json ] || fail 'remove deleted the conffile'
dpkg -P statsd-ts
for f in /etc/statsd-ts /etc/default/statsd-ts /etc/default/statsd-ts-relay /etc/sysctl.d/60-statsd-ts.conf /usr/lib/statsd-ts \
  /var/lib/statsd-ts /run/statsd-ts /run/statsd-ts-relay /etc/systemd/system/multi-user.target.wants/statsd-ts.service "$unit" "$template"; do
  [ ! -e "$f" ] && [ ! -L "$f" ] || fail "left after purge: $f"
done
! getent passwd _statsd-ts >/dev/null || fail 'the _statsd-ts user is left after purge'
! getent group _statsd-ts >/dev/null || fail 'the _statsd-ts group is left after purge'
[ -z "$(dpkg-query -W -f='${Status}' statsd-ts 2>/dev/null | grep -v not-installed)" ] || fail 'dpkg still knows the package'
echo 'debian package: ok'
