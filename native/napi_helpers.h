#ifndef STATSD_NAPI_HELPERS_H
#define STATSD_NAPI_HELPERS_H
#include <node_api.h>

/* Throws, naming the call and the file, and returns NULL from a napi_callback when `call` fails (never seen). */
#define CHECK(call)                                                      \
  do {                                                                   \
    if ((call) != napi_ok) {                                             \
      napi_throw_error(env, NULL, __FILE__ ": " #call " failed");        \
      return NULL;                                                       \
    }                                                                    \
  } while (0)

/* Whether value is a typed array of type `want`; if so, its data and length (in elements). */
static inline int typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

#endif
