/* What the parts of berth_fsx share: Node-style errno errors. */
#ifndef BERTH_FSX_H
#define BERTH_FSX_H
#define NAPI_VERSION 8
#include <node_api.h>

#define FSX_PATH_MAX 4096

/* Throws an Error for errno with Node's code, errno, syscall and path; returns NULL. */
napi_value fsx_throw_errno(napi_env env, const char *syscall, const char *path);
/* Adds the *at calls (at.c) to the module's exports. */
void fsx_register_at(napi_env env, napi_value exports);
#endif
