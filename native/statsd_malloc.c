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
#include <sys/mman.h>
#include <unistd.h>
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

/* The one typed-array argument's memory: 0, or -1 with a TypeError thrown saying `usage`. */
static int typed_array_arg(napi_env env, napi_callback_info info, const char *usage, void **data, size_t *bytes) {
  size_t argc = 1, length;
  napi_value argv[1];
  napi_typedarray_type type;
  *data = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 ||
      napi_get_typedarray_info(env, argv[0], &type, &length, data, NULL, NULL) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return -1;
  }
  *bytes = length * (type == napi_float64_array || type == napi_bigint64_array || type == napi_biguint64_array ? 8
                     : type == napi_int32_array || type == napi_uint32_array || type == napi_float32_array ? 4
                     : type == napi_int16_array || type == napi_uint16_array ? 2 : 1);
  return 0;
}

/*
 * (typed array) -> bytes given back: the memory of every whole page inside
 * it goes back to the kernel (MADV_DONTNEED), and reads as zeros when next
 * touched. For large memory kept for reuse whose contents are no longer
 * needed (the parts of a timer arena no region uses, src/core/forget-pages.ts),
 * which otherwise stays resident at its largest.
 */
static napi_value ForgetPages(napi_env env, napi_callback_info info) {
  void *data;
  size_t bytes;
  napi_value result;
  if (typed_array_arg(env, info, "forgetPages(typedArray)", &data, &bytes) != 0) return NULL;
  uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
  uintptr_t start = ((uintptr_t)data + page - 1) & ~(page - 1);
  uintptr_t end = ((uintptr_t)data + bytes) & ~(page - 1);
  double forgotten = 0;
  if (data != NULL && end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0) forgotten = (double)(end - start);
  CHECK(napi_create_double(env, forgotten, &result));
  return result;
}

/* (typed array or Buffer) -> the address of its first byte: bench/memory-probe.ts tells mappings apart by it. */
static napi_value MemoryAddress(napi_env env, napi_callback_info info) {
  void *data;
  size_t bytes;
  napi_value result;
  if (typed_array_arg(env, info, "memoryAddress(typedArray)", &data, &bytes) != 0) return NULL;
  CHECK(napi_create_double(env, (double)(uintptr_t)data, &result));
  return result;
}

void statsd_malloc_init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
    {"fixMmapThreshold", NULL, FixMmapThreshold, NULL, NULL, NULL, napi_default, NULL},
    {"memoryAddress", NULL, MemoryAddress, NULL, NULL, NULL, napi_default, NULL},
    {"forgetPages", NULL, ForgetPages, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
}
