/*
 * The shard router's hot loop (src/aggregate/shards/route-native.ts): splits
 * datagrams into lines, picks each line's shard by a hash of what its stored
 * name is built from, and copies the line and a newline into that shard's
 * batch. The rule is route.ts's shardOfLine, byte for byte (a test compares
 * the two on random lines): see there why it keeps one stored name on one
 * shard. routeLines runs on the main thread (stream packets, and datagrams
 * when the reader threads do not route them: statsd_lanes.c calls
 * shard_of_line, statsd_hash.h, there); it keeps no state, so every thread
 * may load it.
 */
#include <stdint.h>
#include <string.h>
#include "napi_helpers.h"
#include "statsd_route.h"

#define MAX_SHARDS 256
/* Per shard in the state array: bytes used, lines, packets and bytes counted there. */
#define STATE_FIELDS 4

uint8_t statsd_hash_class[256];

__attribute__((constructor)) static void init_hash_class(void) {
  for (int c = 0; c < 256; c++) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '=' || c == '-') statsd_hash_class[c] = (uint8_t)c;
  }
  statsd_hash_class['/'] = '-';
  statsd_hash_class[':'] = HASH_STOP;
  statsd_hash_class[';'] = HASH_STOP;
  statsd_hash_class['|'] = HASH_PIPE;
}

/*
 * routeLines(src, ends, first, count, start, token, outs, state): routes
 * datagrams first..count-1 of src (datagram i spans ends[i - 1] (start for
 * the first) to ends[i]) into the Buffers outs[shard], each from
 * state[shard * 4] on. Each datagram counts (a packet and its bytes) in
 * the shard of its first line (0 if it has none). Stops before a datagram
 * that might not fit in some shard's buffer, and returns its index (count
 * when all were routed): the caller makes room and calls again from there.
 */
static napi_value RouteLines(napi_env env, napi_callback_info info) {
  size_t argc = 8;
  napi_value argv[8], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *src;
  size_t src_len;
  int32_t *ends, *state;
  size_t ends_len, state_len;
  int32_t first, count, start;
  bool token;
  uint32_t shards;
  if (argc < 8 || napi_get_buffer_info(env, argv[0], (void **)&src, &src_len) != napi_ok ||
      !typed_array(env, argv[1], napi_int32_array, (void **)&ends, &ends_len) ||
      napi_get_value_int32(env, argv[2], &first) != napi_ok || napi_get_value_int32(env, argv[3], &count) != napi_ok ||
      napi_get_value_int32(env, argv[4], &start) != napi_ok || napi_get_value_bool(env, argv[5], &token) != napi_ok ||
      napi_get_array_length(env, argv[6], &shards) != napi_ok || shards == 0 || shards > MAX_SHARDS ||
      !typed_array(env, argv[7], napi_int32_array, (void **)&state, &state_len) || state_len < shards * STATE_FIELDS ||
      first < 0 || count < first || (size_t)count > ends_len) {
    napi_throw_type_error(env, NULL, "routeLines(src, ends, first, count, start, token, outs, state): bad arguments");
    return NULL;
  }
  uint8_t *out[MAX_SHARDS];
  size_t cap[MAX_SHARDS];
  for (uint32_t i = 0; i < shards; i++) {
    napi_value buf;
    CHECK(napi_get_element(env, argv[6], i, &buf));
    if (napi_get_buffer_info(env, buf, (void **)&out[i], &cap[i]) != napi_ok) {
      napi_throw_type_error(env, NULL, "routeLines: outs must hold Buffers");
      return NULL;
    }
  }
  int32_t d = first;
  for (; d < count; d++) {
    size_t ds = d == first ? (size_t)start : (size_t)ends[d - 1];
    size_t de = (size_t)ends[d];
    if (de > src_len || ds > de) {
      napi_throw_range_error(env, NULL, "routeLines: a datagram lies outside src");
      return NULL;
    }
    /* A datagram's lines and newlines take at most its length plus one in any shard. */
    int fits = 1;
    for (uint32_t i = 0; i < shards; i++) fits &= cap[i] - (size_t)state[i * STATE_FIELDS] >= de - ds + 1;
    if (!fits) break;
    int32_t first_shard = -1;
    size_t ls = ds;
    while (ls < de) {
      const uint8_t *nl = memchr(src + ls, '\n', de - ls);
      size_t le = nl == NULL ? de : (size_t)(nl - src);
      if (le > ls) {
        uint32_t sh = shard_of_line(src, ls, le, src_len, token, shards);
        if (first_shard < 0) first_shard = (int32_t)sh;
        int32_t *st = state + sh * STATE_FIELDS;
        memcpy(out[sh] + st[0], src + ls, le - ls);
        out[sh][st[0] + (le - ls)] = '\n';
        st[0] += (int32_t)(le - ls + 1);
        st[1]++;
      }
      ls = le + 1;
    }
    int32_t *counted = state + (first_shard < 0 ? 0 : first_shard) * STATE_FIELDS;
    counted[2]++;
    counted[3] += (int32_t)(de - ds);
  }
  CHECK(napi_create_int32(env, d, &result));
  return result;
}

/* shardOfLine(buf, start, end, token, shards): the shard of one line, for tests comparing with route.ts. */
static napi_value ShardOfLine(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5], result;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  uint8_t *buf;
  size_t len;
  int32_t start, end;
  bool token;
  uint32_t shards;
  if (argc < 5 || napi_get_buffer_info(env, argv[0], (void **)&buf, &len) != napi_ok ||
      napi_get_value_int32(env, argv[1], &start) != napi_ok || napi_get_value_int32(env, argv[2], &end) != napi_ok ||
      napi_get_value_bool(env, argv[3], &token) != napi_ok || napi_get_value_uint32(env, argv[4], &shards) != napi_ok ||
      shards == 0 || start < 0 || end <= start || (size_t)end > len) {
    napi_throw_type_error(env, NULL, "shardOfLine(buf, start, end, token, shards): bad arguments");
    return NULL;
  }
  CHECK(napi_create_uint32(env, shard_of_line(buf, (size_t)start, (size_t)end, len, token, shards), &result));
  return result;
}

void statsd_route_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"routeLines", NULL, RouteLines, NULL, NULL, NULL, napi_default, NULL},
    {"shardOfLine", NULL, ShardOfLine, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
