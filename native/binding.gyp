{
  "targets": [
    {
      "target_name": "statsd_recv",
      "sources": ["statsd_recv.c", "statsd_parse.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"]
    }
  ]
}
