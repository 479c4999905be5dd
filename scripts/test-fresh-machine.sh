#!/usr/bin/env bash
# `npm ci && npm test` as on a fresh machine (Node, npm, python3, make, g++ only), on this one: a fresh clone of
# the checkout, run in a mount namespace where every program from apt that some test might use is replaced, for
# this command only, by a stub that says "not installed" and exits 127. Needs root (unshare, mount --bind).
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
dir=$(mktemp -d /tmp/statsd-fresh.XXXXXX)
trap 'rm -rf "$dir"' EXIT
git clone -q "$src" "$dir/repo"
stub=$dir/not-installed
printf '#!/bin/sh\necho "$0: not installed (fresh machine)" >&2\nexit 127\n' > "$stub"
chmod +x "$stub"
hide=()
for p in promtool prometheus chromium chromedriver carbon-cache carbon-c-relay influxd influx victoria-metrics \
  whisper-fetch lintian dpkg-buildpackage python; do
  while read -r f; do [ -n "$f" ] && hide+=("$f"); done < <(which -a "$p" 2>/dev/null | sort -u)
done
echo "hidden: ${hide[*]:-none}"
unshare --mount --propagation private bash -c '
  stub=$1; shift; repo=$1; shift
  for f in "$@"; do mount --bind "$stub" "$f"; done
  cd "$repo" && npm ci && npm test' _ "$stub" "$dir/repo" "${hide[@]}"
