/* berth_fsx: the file operations Node has no call for, used when layers are
 * unpacked and diffed: mknod (device nodes, fifos, overlay whiteouts) and
 * extended attributes (security.capability, trusted.overlay.opaque, ...);
 * flock for the stores; mount/umount for container roots. The *at calls
 * are in at.c, the process and descriptor calls in proc.c.
 * Each call but syncfs is synchronous and throws an Error with Node's
 * code/syscall/path. */

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include "../common/sealed.h"
#include "fsx.h"

/* A string argument into buf (len bytes); -1 when it is not one or too long. */
int fsx_get_str(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n;
  return napi_get_value_string_utf8(env, v, buf, len, &n) == napi_ok && n < len - 1 ? 0 : -1;
}


static const char *errno_code(int e) {
  switch (e) {
  case EPERM: return "EPERM";
  case ENOENT: return "ENOENT";
  case EACCES: return "EACCES";
  case EEXIST: return "EEXIST";
  case ENOTDIR: return "ENOTDIR";
  case EINVAL: return "EINVAL";
  case ENOSPC: return "ENOSPC";
  case EROFS: return "EROFS";
  case ENAMETOOLONG: return "ENAMETOOLONG";
  case ELOOP: return "ELOOP";
  case ENODATA: return "ENODATA";
  case ENOTSUP: return "ENOTSUP";
  case E2BIG: return "E2BIG";
  case ERANGE: return "ERANGE";
  case EBUSY: return "EBUSY";
  case EBADF: return "EBADF";
  case EXDEV: return "EXDEV";
  case ENOTEMPTY: return "ENOTEMPTY";
  case EISDIR: return "EISDIR";
  case EAGAIN: return "EAGAIN";
  case EMLINK: return "EMLINK";
  default: return "EIO";
  }
}

napi_value fsx_throw_errno(napi_env env, const char *syscall, const char *path) {
  int e = errno;
  char msg[PATH_MAX_LEN + 128];
  snprintf(msg, sizeof(msg), "%s, %s '%s'", strerror(e), syscall, path);
  napi_value m, err, v;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &err);
  napi_create_string_utf8(env, errno_code(e), NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "code", v);
  napi_create_int32(env, -e, &v);
  napi_set_named_property(env, err, "errno", v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "syscall", v);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, err, "path", v);
  napi_throw(env, err);
  return NULL;
}

struct iovec *fsx_buffers(napi_env env, napi_value v, uint32_t *n, const char *usage) {
  bool is_array;
  if (napi_is_array(env, v, &is_array) != napi_ok || !is_array || napi_get_array_length(env, v, n) != napi_ok) {
    napi_throw_type_error(env, NULL, usage);
    return NULL;
  }
  struct iovec *io = calloc(*n ? *n : 1, sizeof(*io));
  if (!io) { napi_throw_error(env, NULL, "berth_fsx: out of memory"); return NULL; }
  for (uint32_t i = 0; i < *n; i++) {
    napi_value b;
    if (napi_get_element(env, v, i, &b) != napi_ok || napi_get_buffer_info(env, b, &io[i].iov_base, &io[i].iov_len) != napi_ok) {
      free(io);
      napi_throw_type_error(env, NULL, usage);
      return NULL;
    }
  }
  return io;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char path[PATH_MAX_LEN];
  uint32_t mode, major, minor;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || fsx_get_str(env, argv[0], path, sizeof(path)) < 0) {
    napi_throw_type_error(env, NULL, "mknod(path, mode, major, minor)");
    return NULL;
  }
  CHECK(napi_get_value_uint32(env, argv[1], &mode));
  CHECK(napi_get_value_uint32(env, argv[2], &major));
  CHECK(napi_get_value_uint32(env, argv[3], &minor));
  if (mknod(path, (mode_t)mode, makedev(major, minor)) < 0) return fsx_throw_errno(env, "mknod", path);
  return NULL;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char path[PATH_MAX_LEN], name[256];
  void *data;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || fsx_get_str(env, argv[0], path, sizeof(path)) < 0 || fsx_get_str(env, argv[1], name, sizeof(name)) < 0 ||
      napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "lsetxattr(path, name, value: Buffer)");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) < 0) return fsx_throw_errno(env, "lsetxattr", path);
  return NULL;
}

/* lgetxattr(path, name): Buffer, or null when the attribute is absent */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], out;
  char path[PATH_MAX_LEN], name[256];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 2 || fsx_get_str(env, argv[0], path, sizeof(path)) < 0 || fsx_get_str(env, argv[1], name, sizeof(name)) < 0) {
    napi_throw_type_error(env, NULL, "lgetxattr(path, name)");
    return NULL;
  }
  char buf[65536];
  ssize_t n = lgetxattr(path, name, buf, sizeof(buf));
  if (n < 0 && (errno == ENODATA || errno == ENOTSUP)) {
    napi_get_null(env, &out);
    return out;
  }
  if (n < 0) return fsx_throw_errno(env, "lgetxattr", path);
  CHECK(napi_create_buffer_copy(env, (size_t)n, buf, NULL, &out));
  return out;
}

/* llistxattr(path): string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  char path[PATH_MAX_LEN];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || fsx_get_str(env, argv[0], path, sizeof(path)) < 0) {
    napi_throw_type_error(env, NULL, "llistxattr(path)");
    return NULL;
  }
  char buf[65536];
  ssize_t n = llistxattr(path, buf, sizeof(buf));
  if (n < 0 && errno == ENOTSUP) n = 0;
  if (n < 0) return fsx_throw_errno(env, "llistxattr", path);
  CHECK(napi_create_array(env, &out));
  uint32_t i = 0;
  for (ssize_t off = 0; off < n;) {
    size_t l = strlen(buf + off);
    napi_value s;
    CHECK(napi_create_string_utf8(env, buf + off, l, &s));
    CHECK(napi_set_element(env, out, i++, s));
    off += (ssize_t)l + 1;
  }
  return out;
}

/* mount(source, target, fstype, flags, data): a container's root (overlay or bind) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  static char src[PATH_MAX_LEN], tgt[PATH_MAX_LEN], type[64], data[16384];
  double flags;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || fsx_get_str(env, argv[0], src, sizeof(src)) || fsx_get_str(env, argv[1], tgt, sizeof(tgt)) ||
      fsx_get_str(env, argv[2], type, sizeof(type)) || napi_get_value_double(env, argv[3], &flags) != napi_ok ||
      fsx_get_str(env, argv[4], data, sizeof(data))) {
    napi_throw_type_error(env, NULL, "mount(source, target, fstype, flags, data)");
    return NULL;
  }
  if (mount(src, tgt, type[0] ? type : NULL, (unsigned long)flags, data[0] ? data : NULL) < 0) return fsx_throw_errno(env, "mount", tgt);
  return NULL;
}

/* umount2(target, MNT_DETACH) when `detach` */
static napi_value js_umount(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  char tgt[PATH_MAX_LEN];
  bool detach = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || fsx_get_str(env, argv[0], tgt, sizeof(tgt))) {
    napi_throw_type_error(env, NULL, "umount(target, detach)");
    return NULL;
  }
  if (argc > 1) napi_get_value_bool(env, argv[1], &detach);
  if (umount2(tgt, detach ? MNT_DETACH : 0) < 0) return fsx_throw_errno(env, "umount", tgt);
  return NULL;
}

/* The call's one path argument into `path` (PATH_MAX_LEN bytes); false, with a TypeError thrown, when it has none. */
bool fsx_path_arg(napi_env env, napi_callback_info info, const char *usage, char *path) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && !fsx_get_str(env, argv[0], path, PATH_MAX_LEN)) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

/* isMountPoint(path): whether path is the root of a mount (statx's
 * STATX_ATTR_MOUNT_ROOT, Linux 5.8); null when the kernel does not say. Reading
 * /proc/self/mountinfo instead costs a parse of every mount on the host. */
static napi_value js_is_mount_point(napi_env env, napi_callback_info info) {
  napi_value out;
  char path[PATH_MAX_LEN];
  if (!fsx_path_arg(env, info, "isMountPoint(path)", path)) return NULL;
  struct statx st;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_TYPE, &st) < 0) {
    if (errno == ENOENT || errno == ENOTDIR) {
      napi_get_boolean(env, false, &out);
      return out;
    }
    return fsx_throw_errno(env, "statx", path);
  }
  if (!(st.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) {
    napi_get_null(env, &out);
    return out;
  }
  napi_get_boolean(env, (st.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0, &out);
  return out;
}

/* The call's one int32 argument; false, with a TypeError thrown, when it has none. */
bool fsx_int32_arg(napi_env env, napi_callback_info info, const char *usage, int32_t *v) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && napi_get_value_int32(env, argv[0], v) == napi_ok) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

/* flock(fd, exclusive): true when taken, false when another holds it (never blocks).
 * The kernel drops the lock when its holder dies, so a crash leaves no stale lock. */
static napi_value js_try_lock(napi_env env, napi_callback_info info) {
  napi_value out;
  int32_t fd;
  if (!fsx_int32_arg(env, info, "tryLock(fd)", &fd)) return NULL;
  int r = flock(fd, LOCK_EX | LOCK_NB);
  if (r < 0 && errno != EWOULDBLOCK) return fsx_throw_errno(env, "flock", "(fd)");
  napi_get_boolean(env, r == 0, &out);
  return out;
}

/* syncfs(fd) on the thread pool: one call puts a whole unpacked layer on
 * disk while the event loop goes on. A promise of 0, or of the errno. */
struct syncfs_job { napi_async_work work; napi_deferred done; int fd, err; };

static void syncfs_run(napi_env env, void *data) {
  (void)env;
  struct syncfs_job *j = data;
  j->err = syncfs(j->fd) < 0 ? errno : 0;
}

static void syncfs_done(napi_env env, napi_status status, void *data) {
  (void)status;
  struct syncfs_job *j = data;
  napi_value v;
  napi_create_int32(env, j->err, &v);
  napi_resolve_deferred(env, j->done, v);
  napi_delete_async_work(env, j->work);
  free(j);
}

static napi_value js_syncfs(napi_env env, napi_callback_info info) {
  int32_t fd;
  if (!fsx_int32_arg(env, info, "syncfs(fd)", &fd)) return NULL;
  struct syncfs_job *j = calloc(1, sizeof(*j));
  if (!j) return fsx_throw_errno(env, "syncfs", "(fd)");
  napi_value promise, name;
  j->fd = fd;
  CHECK(napi_create_promise(env, &j->done, &promise));
  napi_create_string_utf8(env, "berth_syncfs", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_async_work(env, NULL, name, syncfs_run, syncfs_done, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tryLock", NULL, js_try_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"syncfs", NULL, js_syncfs, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"isMountPoint", NULL, js_is_mount_point, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  fsx_register_at(env, exports);
  fsx_register_proc(env, exports);
  fsx_register_ops(env, exports);
  fsx_register_gunzip(env, exports);
  net_register(env, exports);
  return exports;
}

NAPI_MODULE(berth_fsx, init)
