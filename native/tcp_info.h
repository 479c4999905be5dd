#ifndef STATSD_TCP_INFO_H
#define STATSD_TCP_INFO_H
#include <node_api.h>

void tcp_info_init(napi_env env, napi_value exports);

#endif
