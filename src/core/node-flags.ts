/**
 * Flags for the node process that runs the server. V8 reads these only as
 * it starts, so the server cannot set them itself (as heap-policy sets its
 * others): every launcher passes them: package.json's start script, the
 * shebang of main.ts, debian/bin/statsd-ts and the Dockerfile's entrypoint
 * (test/launchers.test.ts checks each one), bench:e2e, and the tests' and
 * the soak harness's ServerProcess.
 *
 * --no-memory-reducer: V8's memory reducer runs full garbage collections
 * whenever the process goes quiet after a burst, to hand memory back to
 * the system. A metrics daemon goes quiet after every burst of traffic,
 * and its heap (about 16 MB) fills again at the next one: an idle server
 * with 1,000 counters spent 16.3 ms of CPU a second with it, 8.8 without,
 * the difference being two mark-compacts of 10 to 15 ms in every ten
 * seconds.
 */
export const NODE_FLAGS: readonly string[] = ['--no-memory-reducer']
