#ifndef STATSD_PARSE_H
#define STATSD_PARSE_H
#include <node_api.h>

/* Adds createKeyTable, parseLines, clearKeyTable and takeHits (statsd_parse.c) to the addon's exports. */
void statsd_parse_init(napi_env env, napi_value exports);

#endif
