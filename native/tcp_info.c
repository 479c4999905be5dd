/*
 * What the kernel knows of a TCP connection we send on, for the Graphite
 * backend's delivery rule (src/backends/graphite/delivery.ts): a flush is
 * delivered once the receiver's TCP stack has acknowledged every byte and
 * our FIN. Node has no event for an ACK and no way to read TCP_INFO, so
 * JavaScript polls this.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/tcp.h> /* glibc's netinet/tcp.h lacks tcpi_notsent_bytes and tcpi_bytes_acked */
#include <netinet/in.h>
#include <stddef.h>
#include <node_api.h>
#include <stdint.h>
#include <sys/socket.h>

#include "tcp_info.h"
#include "napi_helpers.h"

/*
 * (fd, out: Float64Array(4)) -> 0, or -errno. out gets the TCP state
 * (linux/tcp_states.h numbering: 4 FIN_WAIT1, 5 FIN_WAIT2, 6 TIME_WAIT, ...),
 * segments sent and not yet acknowledged, bytes written and not yet sent,
 * and data bytes the receiver acknowledged. Float64 because bytes_acked is
 * 64-bit. A typed array the caller reuses, so a poll allocates nothing.
 */
static napi_value TcpInfo(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], result;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd;
  double *out;
  size_t length;
  if (argc != 2 || napi_get_value_int32(env, argv[0], &fd) != napi_ok ||
      !typed_array(env, argv[1], napi_float64_array, (void **)&out, &length) || length < 4) {
    napi_throw_type_error(env, NULL, "tcpInfo(fd, Float64Array(4))");
    return NULL;
  }
  struct tcp_info ti;
  socklen_t size = sizeof ti;
  int answer = 0;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &size) < 0) {
    answer = -errno;
  } else if (size < offsetof(struct tcp_info, tcpi_bytes_acked) + sizeof ti.tcpi_bytes_acked) {
    answer = -ENOTSUP; /* a kernel older than 4.6 */
  } else {
    out[0] = ti.tcpi_state;
    out[1] = ti.tcpi_unacked;
    out[2] = ti.tcpi_notsent_bytes;
    out[3] = (double)ti.tcpi_bytes_acked;
  }
  napi_create_int32(env, answer, &result);
  return result;
}

void tcp_info_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"tcpInfo", NULL, TcpInfo, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
