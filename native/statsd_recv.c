/*
 * The addon's socket calls for statsd-ts: binding UDP and Unix datagram
 * sockets (Node has no unixgram, and the reader thread, statsd_reader.c,
 * needs the descriptor), probing a unixgram socket file, and a plain read(2)
 * for held stream clients. The exports of the reader thread
 * (statsd_reader.c) and the line parser (statsd_parse.c) are added here.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "napi_helpers.h"
#include "statsd_doorbell.h"
#include "statsd_parse.h"
#include "statsd_route.h"
#include "statsd_reader.h"
#include "tcp_info.h"
#include "statsd_malloc.h"

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
    {"readSocket", NULL, ReadSocket, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  statsd_reader_init(env, exports);
  statsd_parse_init(env, exports);
  statsd_route_init(env, exports);
  statsd_doorbell_init(env, exports);
  tcp_info_init(env, exports);
  statsd_malloc_init(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
