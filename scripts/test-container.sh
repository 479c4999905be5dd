#!/usr/bin/env bash
# The container image, without Docker: replay the Dockerfile's steps in a clean
# temp dir (scripts/container/replay.js), check what the image would contain
# and how it is set up, then start its ENTRYPOINT as an unprivileged user,
# send metrics over UDP and TCP, stop it with SIGTERM and read the last flush.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/e2e.sh
. "$repo/scripts/lib/e2e.sh"
work=$(mktemp -d /tmp/statsd-ts-image.XXXXXX)
chmod 0755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo '== replay the Dockerfile'
node "$repo/scripts/container/replay.js" "$repo" "$work" >"$work/image.json" 2>"$work/replay.log" || {
  tail -n 40 "$work/replay.log"
  fail 'a Dockerfile step failed'
}
grep '^replay:' "$work/replay.log"

echo '== what the image is'
node -e '
  const assert = require("assert"), fs = require("fs"), path = require("path")
  const image = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
  const inRoot = (p) => path.join(image.root, p)
  assert.deepStrictEqual(image.images, ["node:20", "node:20-slim"], "build on node:20, run on node:20-slim")
  assert.ok(!["root", "0", ""].includes(image.user), `runs as a non-root user, not ${image.user}`)
  assert.deepStrictEqual(image.expose, ["8125/udp", "8125/tcp", "8126/tcp", "8127/tcp"])
  assert.match(image.healthcheck, /CMD .*127\.0\.0\.1:8127\/healthz/)
  assert.strictEqual(image.stopsignal, "SIGTERM")
  // Exec form with node itself: node is PID 1 and receives the signals, no shell in between.
  assert.deepStrictEqual(image.entrypoint, ["node", "--no-memory-reducer", "/usr/lib/statsd-ts/build/src/main.js"])
  assert.deepStrictEqual(image.cmd, ["/etc/statsd-ts/config.json"])
  const config = JSON.parse(fs.readFileSync(inRoot("/etc/statsd-ts/config.json"), "utf8"))
  for (const l of config.listeners) assert.strictEqual(l.address, "0.0.0.0", "listens on every interface in the container")
  const modules = fs.readdirSync(inRoot("/usr/lib/statsd-ts/node_modules"))
  for (const dev of ["typescript", "tap", "statsd", "@types"]) assert.ok(!modules.includes(dev), `no dev dependency ${dev}`)
  for (const dep of ["pino", "zod", "acorn"]) assert.ok(modules.includes(dep), `production dependency ${dep}`)
  assert.ok(!fs.existsSync(inRoot("/usr/lib/statsd-ts/src")) && !fs.existsSync(inRoot("/src")), "no sources in the run stage")
  console.log("image layout and settings: ok")
' "$work/image.json"
root=$(node -p 'require(process.argv[1]).root' "$work/image.json")

echo '== run the ENTRYPOINT as an unprivileged user, send metrics, SIGTERM'
# The image's config, on loopback and free ports here (8125 may be taken, and 0.0.0.0 is not for tests).
node -e '
  const fs = require("fs")
  const config = JSON.parse(fs.readFileSync(process.argv[1], "utf8"))
  for (const l of config.listeners) Object.assign(l, { address: "127.0.0.1", port: 0 })
  fs.writeFileSync(process.argv[2], JSON.stringify(config))
' "$root/etc/statsd-ts/config.json" "$work/config.json"
chmod -R a+rX "$root" "$work/config.json"
user=()
[ "$(id -u)" = 0 ] && user=(setpriv --reuid=65534 --regid=65534 --clear-groups --)
"${user[@]}" node "$root/usr/lib/statsd-ts/build/src/main.js" "$work/config.json" >"$work/stdout" 2>"$work/stderr" &
server=$!
pids+=("$server")
wait_until_up "$work/stderr"
send_metrics "$work/stderr" udp 'image.udp:4|c' tcp $'image.tcp:5|c\n'
stop_server "$server" "$work/stderr"
node -e '
  const assert = require("assert")
  const flushes = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map((l) => JSON.parse(l))
  const last = flushes[flushes.length - 1]
  assert.strictEqual(last.counters["image.udp"], 4)
  assert.strictEqual(last.counters["image.tcp"], 5)
  console.log("the last flush has every metric: ok")
' "$work/stdout"
echo 'container image steps: ok'
