/* What the parts of berth_fsx share: Node-style errno errors. */
#ifndef BERTH_FSX_H
#define BERTH_FSX_H
#define NAPI_VERSION 8
#include <node_api.h>

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#define FSX_PATH_MAX 4096
#define PATH_MAX_LEN FSX_PATH_MAX
/* Returns NULL from a napi callback, with an Error thrown, when `call` fails. */
#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, NULL, "berth_fsx: bad arguments");         \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

/* Throws an Error for errno with Node's code, errno, syscall and path; returns NULL. */
napi_value fsx_throw_errno(napi_env env, const char *syscall, const char *path);
/* A string argument into buf (len bytes); -1 when it is not one or too long. */
int fsx_get_str(napi_env env, napi_value v, char *buf, size_t len);
/* The call's one path (PATH_MAX_LEN bytes) or int32 argument; false, with a TypeError thrown, when it has none. */
bool fsx_path_arg(napi_env env, napi_callback_info info, const char *usage, char *path);
bool fsx_int32_arg(napi_env env, napi_callback_info info, const char *usage, int32_t *v);
/* A JS array of Buffers as iovecs (their memory stays the Buffers'; free() the array); NULL, with a TypeError thrown, if it is not one. */
struct iovec *fsx_buffers(napi_env env, napi_value v, uint32_t *n, const char *usage);
/* Add the *at calls (at.c) and the process and descriptor calls (proc.c) to the module's exports. */
void fsx_register_at(napi_env env, napi_value exports);
void fsx_register_proc(napi_env env, napi_value exports);
/* applyOps (ops.c): a planned list of file operations, on the thread pool. */
void fsx_register_ops(napi_env env, napi_value exports);
/* gunzip (gunzip.c): a gzip stream inflated and hashed on a thread of its own. */
void fsx_register_gunzip(napi_env env, napi_value exports);
void net_register(napi_env env, napi_value exports); /* native/net/napi.c */
#endif
