/*
 * Load generator for `npm run bench:e2e`: sends StatsD counters at a fixed
 * rate, or opens many short-lived connections, and prints what it sent.
 *
 *   sender udp HOST PORT PER_DATAGRAM RATE SECONDS
 *   sender unixgram PATH PER_DATAGRAM RATE SECONDS
 *   sender tcp HOST PORT RATE SECONDS          (one connection)
 *   sender unix PATH RATE SECONDS              (one connection)
 *   sender unix-lines PATH SECONDS             (one connection, one line per write(), as fast as it can)
 *   sender conn-tcp HOST PORT COUNT            (COUNT connections, one line each)
 *   sender conn-unix PATH COUNT
 *
 * RATE is metrics per second. Keys cycle over 1000 names (SENDER_KEYS in the
 * environment sets another number). SENDER_TYPES=2 or 3 sends each name as a
 * counter, then a timer, then a gauge (that many series per name);
 * SENDER_TYPES=ms sends timers only.
 * SENDER_BAD=N follows each line with N malformed ones, which count as
 * neither metrics nor rate (the fuzz row: RATE good lines/s, one per
 * datagram). Prints "sent METRICS DATAGRAMS_OR_CONNECTIONS SECONDS".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static unsigned long keys = 1000;
static unsigned long types = 1;
static unsigned long first_type = 0; /* SENDER_TYPES=ms: timers only */
static unsigned long bad_per_line = 0;
#define BAD_LINES 4096
#define BATCH 64

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned long key_counter = 0;
/* Every key's line, formatted once: a sprintf per line held the sender below 4M lines/s. */
static char *key_lines;
static unsigned char *key_line_len;
#define LINE_ROOM 32

static char bad_lines[BAD_LINES][LINE_ROOM];
static unsigned char bad_line_len[BAD_LINES];
static unsigned long bad_counter = 0;

static void format_lines(void) {
  static const char *const suffix[] = {"1|c", "12|ms", "5|g"};
  unsigned long series = keys * types;
  key_lines = malloc(series * LINE_ROOM);
  key_line_len = malloc(series);
  if (key_lines == NULL || key_line_len == NULL) { perror("malloc"); exit(1); }
  for (unsigned long k = 0; k < series; k++)
    key_line_len[k] = (unsigned char)sprintf(key_lines + k * LINE_ROOM, "bench.key%lu:%s\n", k % keys, suffix[first_type + k / keys]);
  /* Malformed in the ways clients get wrong: no value, a word for a number, no type, an unknown type. */
  static const char *const bad[] = {"bench.bad%lu|c\n", "bench.bad%lu:one|c\n", "bench.bad%lu:1\n", "bench.bad%lu:1|x\n"};
  for (unsigned long b = 0; b < BAD_LINES; b++) bad_line_len[b] = (unsigned char)sprintf(bad_lines[b], bad[b % 4], b);
}

/* Appends `count` lines to buf (each followed by bad_per_line malformed ones); returns the new length. */
static size_t lines(char *buf, size_t len, int count) {
  for (int i = 0; i < count; i++) {
    unsigned long k = key_counter++ % (keys * types);
    memcpy(buf + len, key_lines + k * LINE_ROOM, key_line_len[k]);
    len += key_line_len[k];
    for (unsigned long j = 0; j < bad_per_line; j++) {
      unsigned long b = bad_counter++ % BAD_LINES;
      memcpy(buf + len, bad_lines[b], bad_line_len[b]);
      len += bad_line_len[b];
    }
  }
  return len;
}

static int connect_to(int family, const char *a, const char *b, int type) {
  int fd = socket(family, type, 0);
  if (fd < 0) { perror("socket"); exit(1); }
  int r;
  if (family == AF_UNIX) {
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    strncpy(un.sun_path, a, sizeof un.sun_path - 1);
    r = connect(fd, (struct sockaddr *)&un, sizeof un);
  } else {
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(atoi(b))};
    inet_pton(AF_INET, a, &in.sin_addr);
    r = connect(fd, (struct sockaddr *)&in, sizeof in);
  }
  if (r < 0) { perror("connect"); exit(1); }
  return fd;
}

/* Paces `rate` metrics/s for `seconds`, calling send_some(n) with how many are due. */
static void datagrams(int fd, int per, double rate, double seconds) {
  static char bufs[BATCH][65536];
  struct mmsghdr msgs[BATCH];
  struct iovec iovs[BATCH];
  unsigned long metrics = 0, sent = 0, dropped = 0;
  double start = now(), end = start + seconds;
  for (;;) {
    double t = now();
    if (t >= end) break;
    unsigned long due = (unsigned long)((t - start) * rate / per);
    while (sent + dropped < due) {
      int n = due - sent - dropped > BATCH ? BATCH : (int)(due - sent - dropped);
      for (int i = 0; i < n; i++) {
        iovs[i].iov_base = bufs[i];
        iovs[i].iov_len = lines(bufs[i], 0, per) - 1; /* no newline after the last line */
        memset(&msgs[i].msg_hdr, 0, sizeof msgs[i].msg_hdr);
        msgs[i].msg_hdr.msg_iov = &iovs[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
      }
      int r = sendmmsg(fd, msgs, n, 0);
      if (r < 0) {
        if (errno == EAGAIN || errno == ENOBUFS || errno == ECONNREFUSED) { dropped += n; continue; }
        perror("sendmmsg");
        exit(1);
      }
      sent += r;
      metrics += (unsigned long)r * per;
    }
    struct timespec pause = {0, 200000};
    nanosleep(&pause, NULL);
  }
  printf("sent %lu %lu %.3f\n", metrics, sent, now() - start);
}

static void stream(int fd, double rate, double seconds) {
  static char buf[1 << 16];
  unsigned long metrics = 0;
  double start = now(), end = start + seconds;
  for (;;) {
    double t = now();
    if (t >= end) break;
    unsigned long due = (unsigned long)((t - start) * rate);
    while (metrics < due) {
      int n = due - metrics > 2000 ? 2000 : (int)(due - metrics);
      size_t len = lines(buf, 0, n);
      size_t off = 0;
      while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        if (w < 0) { perror("write"); exit(1); }
        off += w;
      }
      metrics += n;
    }
    struct timespec pause = {0, 200000};
    nanosleep(&pause, NULL);
  }
  shutdown(fd, SHUT_WR);
  char sink[256];
  while (read(fd, sink, sizeof sink) > 0) {}
  printf("sent %lu 1 %.3f\n", metrics, now() - start);
}

/* One line per write(), with no pause: how many such writes the server lets a client make. */
static void line_writes(int fd, double seconds) {
  char line[64];
  unsigned long metrics = 0;
  double start = now(), end = start + seconds;
  while (now() < end) {
    for (int i = 0; i < 256; i++, metrics++) {
      size_t len = lines(line, 0, 1);
      if (write(fd, line, len) != (ssize_t)len) { perror("write"); exit(1); }
    }
  }
  double elapsed = now() - start;
  shutdown(fd, SHUT_WR);
  char sink[256];
  while (read(fd, sink, sizeof sink) > 0) {}
  printf("sent %lu 1 %.3f\n", metrics, elapsed);
}

static void connections(int family, const char *a, const char *b, long count) {
  char line[64];
  double start = now();
  for (long i = 0; i < count; i++) {
    int fd = connect_to(family, a, b, SOCK_STREAM);
    size_t len = lines(line, 0, 1);
    if (write(fd, line, len) < 0) { perror("write"); exit(1); }
    close(fd);
  }
  printf("sent %ld %ld %.3f\n", count, count, now() - start);
}

int main(int argc, char **argv) {
  if (argc < 4) { fprintf(stderr, "usage: see sender.c\n"); return 2; }
  const char *mode = argv[1];
  const char *keys_env = getenv("SENDER_KEYS");
  if (keys_env != NULL && atol(keys_env) > 0) keys = (unsigned long)atol(keys_env);
  const char *types_env = getenv("SENDER_TYPES");
  if (types_env != NULL && !strcmp(types_env, "ms")) first_type = 1;
  else if (types_env != NULL && atol(types_env) >= 1 && atol(types_env) <= 3) types = (unsigned long)atol(types_env);
  const char *bad_env = getenv("SENDER_BAD");
  if (bad_env != NULL && atol(bad_env) > 0) bad_per_line = (unsigned long)atol(bad_env);
  format_lines();
  if (!strcmp(mode, "udp") && argc == 7) {
    int fd = connect_to(AF_INET, argv[2], argv[3], SOCK_DGRAM);
    datagrams(fd, atoi(argv[4]), atof(argv[5]), atof(argv[6]));
  } else if (!strcmp(mode, "unixgram") && argc == 6) {
    int fd = connect_to(AF_UNIX, argv[2], NULL, SOCK_DGRAM);
    datagrams(fd, atoi(argv[3]), atof(argv[4]), atof(argv[5]));
  } else if (!strcmp(mode, "tcp") && argc == 6) {
    stream(connect_to(AF_INET, argv[2], argv[3], SOCK_STREAM), atof(argv[4]), atof(argv[5]));
  } else if (!strcmp(mode, "unix") && argc == 5) {
    stream(connect_to(AF_UNIX, argv[2], NULL, SOCK_STREAM), atof(argv[3]), atof(argv[4]));
  } else if (!strcmp(mode, "unix-lines") && argc == 4) {
    line_writes(connect_to(AF_UNIX, argv[2], NULL, SOCK_STREAM), atof(argv[3]));
  } else if (!strcmp(mode, "conn-tcp") && argc == 5) {
    connections(AF_INET, argv[2], argv[3], atol(argv[4]));
  } else if (!strcmp(mode, "conn-unix") && argc == 4) {
    connections(AF_UNIX, argv[2], NULL, atol(argv[3]));
  } else {
    fprintf(stderr, "usage: see sender.c\n");
    return 2;
  }
  return 0;
}
