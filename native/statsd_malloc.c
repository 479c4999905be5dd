/*
 * glibc's malloc serves a block of M_MMAP_THRESHOLD bytes or more (128 KiB
 * at first) with a mapping of its own, unmapped when it is freed. But each
 * time such a block is freed, glibc raises the threshold to its size (up to
 * 32 MiB), so that from then on the large blocks a server keeps allocating
 * and freeing (the backing stores of typed arrays and Buffers: key-table
 * columns, a flush's columns and output chunks, timer arenas) come from the
 * main heap, where freed ones stay resident between live ones. Fixing the
 * threshold (mallopt turns the adjustment off) keeps every large block in
 * its own mapping, given back to the kernel as soon as it is freed: at 100k
 * keys of each type and 1.6M metrics/s, the peak RSS went from 187-205 to
 * 162-174 MB (bench:e2e targets), for no CPU per metric beyond noise.
 */
#include "statsd_malloc.h"

#include <stdint.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "napi_helpers.h"

/* (bytes) -> whether the threshold was fixed (false where malloc is not glibc's). */
static napi_value FixMmapThreshold(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  int32_t bytes;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || napi_get_value_int32(env, argv[0], &bytes) != napi_ok || bytes < 4096) {
    napi_throw_type_error(env, NULL, "fixMmapThreshold(bytes >= 4096)");
    return NULL;
  }
  int done = 0;
#if defined(__GLIBC__)
  done = mallopt(M_MMAP_THRESHOLD, bytes) == 1;
#endif
  CHECK(napi_get_boolean(env, done, &result));
  return result;
}

void statsd_malloc_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"fixMmapThreshold", NULL, FixMmapThreshold, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
