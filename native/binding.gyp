{
  "targets": [
    {
      "target_name": "statsd_recv",
      "sources": ["statsd_recv.c", "statsd_reader.c", "statsd_ring.c", "statsd_parse.c", "statsd_route.c", "statsd_lanes.c", "statsd_doorbell.c", "tcp_info.c", "statsd_malloc.c"],
      "cflags": ["-O2", "-pthread", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "ldflags": ["-pthread"]
    }
  ]
}
