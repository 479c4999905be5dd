#ifndef STATSD_READER_H
#define STATSD_READER_H
#include <node_api.h>

/* Adds startReader, giveBack, readerStats and stopReader (statsd_reader.c) to the addon's exports. */
void statsd_reader_init(napi_env env, napi_value exports);

#endif
