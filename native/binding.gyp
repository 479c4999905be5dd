{
  "targets": [
    {
      "target_name": "statsd_recv",
      "sources": ["statsd_recv.c", "statsd_parse.c", "tcp_info.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
