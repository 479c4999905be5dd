# statsd-ts container image. Built elsewhere (no Docker engine on the dev and
# CI machines); scripts/test-container.sh replays these steps outside Docker.
#   docker build -t statsd-ts .
#   docker run -p 8125:8125/udp -p 8125:8125/tcp -v /path/config.json:/etc/statsd-ts/config.json statsd-ts

# Build stage: the TypeScript build and a production-only node_modules.
FROM node:20 AS build
WORKDIR /src
COPY package.json package-lock.json ./
# npm ci builds the recvmmsg addon from native/ (node-gyp; the node image has python3, make and g++).
COPY native ./native
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY scripts/container ./scripts/container
RUN sh scripts/container/stage.sh stage

# Run stage: the slim image with the staged files only.
FROM node:20-slim
COPY --from=build /src/stage/ /
RUN ["node", "/usr/lib/statsd-ts/build/src/main.js", "--check-config", "/etc/statsd-ts/config.json"]
# The image's unprivileged user (uid 1000).
USER node
EXPOSE 8125/udp 8125/tcp 8126/tcp 8127/tcp
# The admin server's health endpoint (admin on 0.0.0.0:8127 in the image's config). With TLS on the
# admin server, its plain loopback twin (admin.probePort 8128) answers first.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8128/healthz').catch(() => fetch('http://127.0.0.1:8127/healthz')).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Exec form, no shell: node is PID 1 and gets SIGTERM itself, drains and sends a last flush.
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--no-memory-reducer", "/usr/lib/statsd-ts/build/src/main.js"]
CMD ["/etc/statsd-ts/config.json"]
