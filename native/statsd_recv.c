/*
 * Datagram reading for statsd-ts: recvmmsg() many datagrams per system call
 * into one reused buffer, and hand JavaScript a whole batch per call (one
 * Buffer holding the datagrams back to back, plus their end offsets), so the
 * per-datagram cost is a memcpy instead of a system call, a Buffer and a JS
 * callback. Used for UDP and for Unix datagram sockets (which Node lacks).
 *
 * A batch is copied into one of a few slabs JavaScript lends the reader:
 * shared memory, which V8 leaves out of its external-memory figure, so a
 * batch costs no new ArrayBuffer. A new Buffer per batch counted there, and
 * V8 marked the whole heap every few seconds of steady UDP traffic for it
 * (src/core/uncounted-memory.ts). JavaScript says which slab is free next;
 * when none is (a backlog holds them all) or the batch is bigger than a
 * slab, the batch gets a Buffer of its own as before.
 *
 * The socket is watched with a libuv poll handle on Node's own loop, so
 * batches arrive on the main thread like any socket event. Most clients
 * send one metric per datagram: woken for each, the process would spend
 * most of its time going to sleep and waking up (epoll_wait, the context
 * switch, one JS call per datagram). So while datagrams keep coming, the
 * reader stops watching and reads on a timer instead, taking whatever
 * arrived meanwhile in one batch; when a tick finds nothing it goes back to
 * watching. Only a UDP socket with a receive buffer of 1 MiB or more (as
 * the kernel reports it: twice recvBufferSize) waits like this: the default
 * buffer holds about 256 small datagrams, 2.5 ms at 100k/s, too little
 * room; and a Unix datagram socket queues at most net.unix.max_dgram_qlen
 * datagrams (10 by default) before its senders block or fail. The first
 * tick after a quiet spell is 1 ms; later ticks are sized from the rate
 * just seen so that a tick (and the loop's lateness of up to a
 * millisecond) fills at most a quarter of the buffer, up to 8 ms; a rate
 * too high even for 1 ms goes back to reading on every wakeup.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <uv.h>

#include "statsd_parse.h"
#include "tcp_info.h"
#include "typed_array.h"

#define VLEN 64                   /* datagrams per recvmmsg() */
#define SLOT_BYTES 65536          /* room per datagram: any UDP datagram fits */
#define CALLS_PER_WAKEUP 16       /* then let the loop serve other sockets */
#define MIN_TICK_MS 1
#define MAX_TICK_MS 8
#define MIN_COALESCING_RCVBUF (1 << 20)
/* What a datagram costs against SO_RCVBUF beyond its payload (the kernel's
 * skb overhead: 256 small datagrams fill the default 212992 bytes). */
#define DATAGRAM_OVERHEAD 800

typedef struct {
  int fd;
  int closing;
  int handles_open;               /* poll and timer: freed when both have closed */
  int rcvbuf;                     /* SO_RCVBUF as the kernel reports it (what it charges against) */
  int ticks;                      /* whether to read on ticks while traffic lasts (see the top) */
  uint64_t window_start;          /* since when window_* have counted (loop time, ms) */
  size_t window_bytes;
  size_t window_datagrams;
  uv_poll_t poll;
  uv_timer_t timer;
  napi_env env;
  napi_ref on_batch;              /* (slab | null, lent slab index, count, truncated) => void */
  napi_ref refs[4];               /* keep alive the arrays below: ends, lent, lent_ends, next_lent */
  int32_t *ends;                  /* end offsets of a batch in a Buffer of its own */
  char *lent;                     /* lent_count slabs of lent_bytes */
  int32_t *lent_ends;             /* VLEN end offsets per lent slab */
  int32_t *next_lent;             /* [0]: the lent slab to fill next, -1 if none is free */
  size_t lent_count, lent_bytes;
  napi_async_context async;
  char *slots;                    /* VLEN * SLOT_BYTES, reused for every call */
  struct mmsghdr msgs[VLEN];
  struct iovec iovs[VLEN];
} reader_t;

#define CHECK(call)                                                     \
  do {                                                                  \
    if ((call) != napi_ok) {                                            \
      napi_throw_error(env, NULL, "statsd_recv: " #call " failed");     \
      return NULL;                                                      \
    }                                                                   \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char message[256];
  snprintf(message, sizeof message, "%s: %s", what, strerror(err));
  napi_value msg, code, error;
  napi_create_string_utf8(env, message, NAPI_AUTO_LENGTH, &msg);
  napi_create_int32(env, err, &code);
  napi_create_error(env, NULL, msg, &error);
  napi_set_named_property(env, error, "errno", code);
  napi_throw(env, error);
  return NULL;
}

/*
 * One recvmmsg() and, if it got anything, one JS call. Returns the number of
 * datagrams read, 0 when none was waiting, -errno on error.
 */
static int read_batch(reader_t *r) {
  for (int i = 0; i < VLEN; i++) {
    r->iovs[i].iov_base = r->slots + (size_t)i * SLOT_BYTES;
    r->iovs[i].iov_len = SLOT_BYTES;
    memset(&r->msgs[i].msg_hdr, 0, sizeof r->msgs[i].msg_hdr);
    r->msgs[i].msg_hdr.msg_iov = &r->iovs[i];
    r->msgs[i].msg_hdr.msg_iovlen = 1;
  }
  int n;
  do n = recvmmsg(r->fd, r->msgs, VLEN, MSG_DONTWAIT, NULL);
  while (n < 0 && errno == EINTR);
  if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
  if (n == 0) return 0;
  r->window_datagrams += (size_t)n;

  napi_env env = r->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return n;

  size_t total = 0;
  int truncated = 0;
  for (int i = 0; i < n; i++) {
    if (r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) truncated++;
    else if (r->msgs[i].msg_len > 0) total += r->msgs[i].msg_len;
  }
  napi_value argv[4], fn, recv, result;
  int32_t lent = r->next_lent[0];
  char *data;
  int32_t *ends;
  if (lent >= 0 && (size_t)lent < r->lent_count && total <= r->lent_bytes) {
    data = r->lent + (size_t)lent * r->lent_bytes;
    ends = r->lent_ends + (size_t)lent * VLEN;
    napi_get_null(env, &argv[0]);
  } else {
    lent = -1;
    ends = r->ends;
    if (napi_create_buffer(env, total, (void **)&data, &argv[0]) != napi_ok) {
      napi_close_handle_scope(env, scope);
      return n;
    }
  }
  size_t at = 0;
  int kept = 0;
  for (int i = 0; i < n; i++) {
    unsigned len = r->msgs[i].msg_len;
    if ((r->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) || len == 0) continue;
    memcpy(data + at, r->iovs[i].iov_base, len);
    at += len;
    r->window_bytes += len;
    ends[kept++] = (int32_t)at;
  }
  napi_get_reference_value(env, r->on_batch, &fn);
  napi_get_global(env, &recv);
  napi_create_int32(env, lent, &argv[1]);
  napi_create_int32(env, kept, &argv[2]);
  napi_create_int32(env, truncated, &argv[3]);
  if (napi_make_callback(env, r->async, recv, fn, 4, argv, &result) == napi_pending_exception) {
    napi_value err;
    napi_get_and_clear_last_exception(env, &err);
    napi_fatal_exception(env, err);
  }
  napi_close_handle_scope(env, scope);
  return n;
}

/*
 * Reads until the kernel queue is empty or CALLS_PER_WAKEUP batches were
 * taken. Returns the datagrams read, or -1 if the queue may still hold more.
 */
static int read_some(reader_t *r) {
  int total = 0;
  for (int calls = 0; calls < CALLS_PER_WAKEUP && !r->closing; calls++) {
    int n = read_batch(r);
    if (n > 0) total += n;
    if (n < VLEN) return total; /* the kernel queue is (or was just) empty, or an error */
  }
  return -1;
}

static void on_tick(uv_timer_t *handle);

/* Waits `ms` before reading again, and starts counting what arrives meanwhile. */
static void start_tick(reader_t *r, uint64_t ms) {
  r->window_start = uv_now(r->timer.loop);
  r->window_bytes = 0;
  r->window_datagrams = 0;
  uv_timer_start(&r->timer, on_tick, ms, 0);
}

/*
 * The next tick: what the rate just seen takes to fill a quarter of the
 * receive buffer, less a millisecond for the loop's lateness; 0 when that
 * leaves less than MIN_TICK_MS.
 */
static uint64_t next_tick_ms(reader_t *r) {
  uint64_t elapsed = uv_now(r->timer.loop) - r->window_start;
  double charged = (double)r->window_bytes + (double)DATAGRAM_OVERHEAD * (double)r->window_datagrams;
  if (elapsed < 1) elapsed = 1;
  double ms = charged > 0 ? (r->rcvbuf / 4.0) * (double)elapsed / charged - 1 : MAX_TICK_MS;
  return ms < MIN_TICK_MS ? 0 : ms > MAX_TICK_MS ? MAX_TICK_MS : (uint64_t)ms;
}

static void on_readable(uv_poll_t *handle, int status, int events);

/* Back to reading on every wakeup. */
static void watch(reader_t *r) {
  if (uv_poll_start(&r->poll, UV_READABLE, on_readable) != 0) {
    /* Never seen: the socket cannot be watched again. Keep reading on the timer rather than go deaf. */
    start_tick(r, MIN_TICK_MS);
  }
}

static void on_readable(uv_poll_t *handle, int status, int events) {
  reader_t *r = (reader_t *)handle->data;
  (void)events;
  if (r->closing || status < 0) return;
  if (read_some(r) < 0 || r->closing) return; /* more waiting: stay woken by readiness */
  if (!r->ticks) return;
  /* Traffic, at a rate not known yet: let the next datagrams gather for the shortest tick. */
  uv_poll_stop(&r->poll);
  start_tick(r, MIN_TICK_MS);
}

static void on_tick(uv_timer_t *handle) {
  reader_t *r = (reader_t *)handle->data;
  if (r->closing) return;
  int n = read_some(r);
  if (r->closing) return;
  uint64_t next = n > 0 ? next_tick_ms(r) : 0;
  if (next > 0) start_tick(r, next);
  else watch(r); /* quiet, too fast for ticks, or more than a wakeup's worth still waiting */
}

static void free_reader(reader_t *r) {
  napi_env env = r->env;
  if (r->on_batch) napi_delete_reference(env, r->on_batch);
  for (int i = 0; i < 4; i++)
    if (r->refs[i]) napi_delete_reference(env, r->refs[i]);
  if (r->async) napi_async_destroy(env, r->async);
  free(r->slots);
  free(r);
}

static void on_handle_closed(uv_handle_t *handle) {
  reader_t *r = (reader_t *)handle->data;
  if (--r->handles_open == 0) free_reader(r);
}

/*
 * Arguments: (fd, onBatch, ends: Int32Array(>= 64), lent: Uint8Array,
 * lentEnds: Int32Array(64 per slab), nextLent: Int32Array(>= 1)) -> handle.
 * lent holds as many slabs as lentEnds has 64s, back to back. Takes
 * ownership of fd.
 */
static napi_value Watch(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  void *ends, *lent, *lent_ends, *next_lent;
  size_t ends_len, lent_len, lent_ends_len, next_lent_len;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || !typed_array(env, argv[2], napi_int32_array, &ends, &ends_len) ||
      ends_len < VLEN || !typed_array(env, argv[3], napi_uint8_array, &lent, &lent_len) ||
      !typed_array(env, argv[4], napi_int32_array, &lent_ends, &lent_ends_len) ||
      !typed_array(env, argv[5], napi_int32_array, &next_lent, &next_lent_len) || next_lent_len < 1) {
    napi_throw_type_error(env, NULL, "watch(fd, onBatch, ends: Int32Array(64), lent: Uint8Array, lentEnds: Int32Array, nextLent: Int32Array)");
    return NULL;
  }
  reader_t *r = calloc(1, sizeof *r);
  if (r == NULL || (r->slots = malloc((size_t)VLEN * SLOT_BYTES)) == NULL) {
    free(r);
    return throw_errno(env, "cannot allocate receive buffers", ENOMEM);
  }
  r->fd = fd;
  r->env = env;
  int domain = AF_UNIX;
  socklen_t optlen = sizeof domain;
  getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &optlen);
  optlen = sizeof r->rcvbuf;
  if (getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &r->rcvbuf, &optlen) != 0) r->rcvbuf = 0;
  r->ticks = (domain == AF_INET || domain == AF_INET6) && r->rcvbuf >= MIN_COALESCING_RCVBUF;
  r->ends = ends;
  r->lent = lent;
  r->lent_ends = lent_ends;
  r->next_lent = next_lent;
  r->lent_count = lent_ends_len / VLEN;
  r->lent_bytes = r->lent_count > 0 ? lent_len / r->lent_count : 0;
  napi_value name, resource;
  napi_create_string_utf8(env, "statsd_recv", NAPI_AUTO_LENGTH, &name);
  napi_create_object(env, &resource);
  CHECK(napi_async_init(env, resource, name, &r->async));
  CHECK(napi_create_reference(env, argv[1], 1, &r->on_batch));
  for (int i = 0; i < 4; i++) CHECK(napi_create_reference(env, argv[2 + i], 1, &r->refs[i]));
  uv_loop_t *loop;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int err = uv_poll_init(loop, &r->poll, fd);
  if (err != 0) {
    free_reader(r);
    return throw_errno(env, "cannot watch socket", -err);
  }
  r->poll.data = r;
  uv_timer_init(loop, &r->timer); /* cannot fail */
  r->timer.data = r;
  r->handles_open = 2;
  err = uv_poll_start(&r->poll, UV_READABLE, on_readable);
  if (err != 0) {
    r->closing = 1;
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
    return throw_errno(env, "cannot watch socket", -err);
  }
  napi_value handle;
  CHECK(napi_create_external(env, r, NULL, NULL, &handle));
  return handle;
}

static reader_t *get_reader(napi_env env, napi_value value) {
  void *r = NULL;
  if (napi_get_value_external(env, value, &r) != napi_ok) return NULL;
  return (reader_t *)r;
}

/* (handle) -> datagrams read: everything already waiting in the kernel, before a close. */
static napi_value Drain(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = get_reader(env, argv[0]);
  int total = 0;
  if (r != NULL && !r->closing) {
    for (int calls = 0; calls < 1024; calls++) {
      int n = read_batch(r);
      if (n <= 0) break;
      total += n;
    }
  }
  napi_create_int32(env, total, &result);
  return result;
}

/* (handle): stop watching and close the socket. The handle must not be used again. */
static napi_value Close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  reader_t *r = get_reader(env, argv[0]);
  if (r != NULL && !r->closing) {
    r->closing = 1;
    uv_poll_stop(&r->poll);
    uv_timer_stop(&r->timer);
    close(r->fd);
    uv_close((uv_handle_t *)&r->poll, on_handle_closed);
    uv_close((uv_handle_t *)&r->timer, on_handle_closed);
  }
  return NULL;
}

static int set_rcvbuf(int fd, int size) {
  if (size > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size) < 0) return -errno;
  return 0;
}

static napi_value socket_result(napi_env env, int fd, int port) {
  napi_value result, v;
  int rcvbuf = 0;
  socklen_t len = sizeof rcvbuf;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, &len);
  napi_create_object(env, &result);
  napi_create_int32(env, fd, &v);
  napi_set_named_property(env, result, "fd", v);
  napi_create_int32(env, port, &v);
  napi_set_named_property(env, result, "port", v);
  napi_create_int32(env, rcvbuf, &v);
  napi_set_named_property(env, result, "recvBufferSize", v);
  return result;
}

/* (ip: string, port, recvBufferSize: 0 = OS default) -> { fd, port, recvBufferSize } */
static napi_value BindUdp(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  char ip[64];
  size_t iplen;
  int32_t port, rcvbuf;
  CHECK(napi_get_value_string_utf8(env, argv[0], ip, sizeof ip, &iplen));
  CHECK(napi_get_value_int32(env, argv[1], &port));
  CHECK(napi_get_value_int32(env, argv[2], &rcvbuf));

  struct sockaddr_storage addr;
  socklen_t addrlen;
  memset(&addr, 0, sizeof addr);
  struct sockaddr_in *in4 = (struct sockaddr_in *)&addr;
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;
  if (inet_pton(AF_INET, ip, &in4->sin_addr) == 1) {
    in4->sin_family = AF_INET;
    in4->sin_port = htons((uint16_t)port);
    addrlen = sizeof *in4;
  } else if (inet_pton(AF_INET6, ip, &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons((uint16_t)port);
    addrlen = sizeof *in6;
  } else {
    return throw_errno(env, "not an IP address", EINVAL);
  }
  int fd = socket(addr.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int err = set_rcvbuf(fd, rcvbuf);
  if (err == 0 && bind(fd, (struct sockaddr *)&addr, addrlen) < 0) err = -errno;
  if (err == 0) {
    addrlen = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &addrlen) < 0) err = -errno;
  }
  if (err != 0) {
    close(fd);
    return throw_errno(env, "bind", -err);
  }
  int bound = addr.ss_family == AF_INET ? ntohs(in4->sin_port) : ntohs(in6->sin6_port);
  return socket_result(env, fd, bound);
}

static int unix_address(napi_env env, napi_value value, struct sockaddr_un *addr) {
  size_t len;
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (napi_get_value_string_utf8(env, value, addr->sun_path, sizeof addr->sun_path, &len) != napi_ok) return -EINVAL;
  if (len >= sizeof addr->sun_path - 1) return -ENAMETOOLONG;
  return 0;
}

/* (path, recvBufferSize) -> { fd, port: 0, recvBufferSize } */
static napi_value BindUnixgram(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct sockaddr_un addr;
  int err = unix_address(env, argv[0], &addr);
  if (err != 0) return throw_errno(env, "bad socket path", -err);
  int32_t rcvbuf;
  CHECK(napi_get_value_int32(env, argv[1], &rcvbuf));
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  err = set_rcvbuf(fd, rcvbuf);
  if (err == 0 && bind(fd, (struct sockaddr *)&addr, sizeof addr) < 0) err = -errno;
  if (err != 0) {
    close(fd);
    return throw_errno(env, "bind", -err);
  }
  return socket_result(env, fd, 0);
}

/*
 * (path) -> 0 when a datagram socket there has no reader (a stale file),
 * or the errno of trying to reach it (0 never means "in use": a successful
 * connect returns -1 instead).
 */
static napi_value ProbeUnixgram(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct sockaddr_un addr;
  int answer = unix_address(env, argv[0], &addr);
  if (answer == 0) {
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      answer = errno;
    } else {
      if (connect(fd, (struct sockaddr *)&addr, sizeof addr) == 0) answer = -1;
      else answer = errno == ECONNREFUSED ? 0 : errno;
      close(fd);
    }
  } else {
    answer = -answer;
  }
  napi_create_int32(env, answer, &result);
  return result;
}

/*
 * (fd, buffer) -> bytes read into buffer, 0 at EOF, or -errno (-EAGAIN when
 * nothing is queued). A held stream client's read
 * (src/listeners/stream/read-socket.ts): fs.readSync costs a request object
 * and, when nothing is queued, an exception with its stack trace.
 */
static napi_value ReadSocket(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t fd;
  void *data;
  size_t length;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_get_buffer_info(env, argv[1], &data, &length) != napi_ok) {
    napi_throw_type_error(env, NULL, "readSocket(fd, buffer)");
    return NULL;
  }
  ssize_t n;
  do n = read(fd, data, length);
  while (n < 0 && errno == EINTR);
  if (n < 0) n = errno == EWOULDBLOCK ? -EAGAIN : -errno;
  CHECK(napi_create_int32(env, (int32_t)n, &result));
  return result;
}

static napi_value Init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"bindUdp", NULL, BindUdp, NULL, NULL, NULL, napi_default, NULL},
    {"bindUnixgram", NULL, BindUnixgram, NULL, NULL, NULL, napi_default, NULL},
    {"probeUnixgram", NULL, ProbeUnixgram, NULL, NULL, NULL, napi_default, NULL},
    {"watch", NULL, Watch, NULL, NULL, NULL, napi_default, NULL},
    {"drain", NULL, Drain, NULL, NULL, NULL, napi_default, NULL},
    {"close", NULL, Close, NULL, NULL, NULL, napi_default, NULL},
    {"readSocket", NULL, ReadSocket, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  statsd_parse_init(env, exports);
  tcp_info_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
