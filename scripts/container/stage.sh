#!/bin/sh
# The image's build step (Dockerfile, build stage): compile, then lay out the
# run stage's files under DEST as they will be in the image:
#   DEST/usr/lib/statsd-ts/{package.json,build/src,node_modules}  DEST/etc/statsd-ts/config.json
# Run from the source directory, after `npm ci`.
set -eu
dest=$1
app=$dest/usr/lib/statsd-ts

npx tsc -p tsconfig.json
rm -rf "$dest"
mkdir -p "$app/build" "$dest/etc/statsd-ts"
cp package.json package-lock.json "$app/"
cp -r build/src "$app/build/"
find "$app/build" -name '*.map' -delete
# The recvmmsg addon, if npm ci could build it (without it UDP falls back to node:dgram, as logged).
if [ -f native/build/Release/statsd_recv.node ]; then
  mkdir -p "$app/native/build/Release"
  cp native/build/Release/statsd_recv.node "$app/native/build/Release/"
fi
# Production dependencies only; none needs an install script.
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund && rm package-lock.json)
cp scripts/container/config.json "$dest/etc/statsd-ts/config.json"
