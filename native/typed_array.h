#ifndef STATSD_TYPED_ARRAY_H
#define STATSD_TYPED_ARRAY_H
#include <node_api.h>

/* Whether value is a typed array of type `want`; if so, its data and length (in elements). */
static inline int typed_array(napi_env env, napi_value value, napi_typedarray_type want, void **data, size_t *length) {
  napi_typedarray_type type;
  return napi_get_typedarray_info(env, value, &type, length, data, NULL, NULL) == napi_ok && type == want;
}

#endif
