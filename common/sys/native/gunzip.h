/* gunzip.c: ISA-L inflate for layer blobs, registered on the addon's exports. */
#ifndef BERTH_GUNZIP_H
#define BERTH_GUNZIP_H
#include <node_api.h>

void berth_register_gunzip(napi_env env, napi_value exports);

#endif
