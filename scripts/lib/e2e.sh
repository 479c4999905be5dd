# Shared by scripts/test-deb.sh and scripts/test-container.sh (sourced).

fail() {
  printf 'FAIL: %s\n' "$*" >&2
  exit 1
}

# wait_until_up LOG: until the server's log says it is up (20 s at most).
wait_until_up() {
  for _ in $(seq 200); do
    grep -q '"statsd server is up"' "$1" && return 0
    sleep 0.1
  done
  cat "$1"
  fail 'the server did not start'
}

# stop_server PID LOG: SIGTERM, then the server must exit with status 0.
stop_server() {
  kill -TERM "$1"
  local status=0
  wait "$1" || status=$?
  [ "$status" = 0 ] || {
    cat "$2"
    fail "the server exited with status $status after SIGTERM"
  }
}

# send_metrics LOG TARGET TEXT...: see send-metrics.js.
send_metrics() {
  node "$(dirname "${BASH_SOURCE[0]}")/send-metrics.js" "$@"
}
