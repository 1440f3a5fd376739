/* berth_fsx: the *at calls with which berth works inside a tree it does not
 * trust (a container's root, an upper layer, a build context): openat2 with
 * the caller's resolve flags, and single-name operations relative to a
 * directory fd that never follow a final symlink. The TypeScript side decides
 * which name is opened with which flags; this file only passes them on.
 * Attributes of an O_PATH fd are reached through /proc/self/fd/N, which names
 * the open file itself (no path is walked again). */
#define NAPI_VERSION 8
#include <node_api.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdbool.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsx.h"

#define ARGS(n)                                                        \
  size_t argc = (n);                                                   \
  napi_value argv[(n) > 0 ? (n) : 1];                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < (n)) { \
    napi_throw_type_error(env, NULL, "berth_fsx: missing arguments");  \
    return NULL;                                                       \
  }

static int arg_int(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok ? 0 : -1;
}

static int arg_name(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n;
  return napi_get_value_string_utf8(env, v, buf, len, &n) == napi_ok && n < len - 1 ? 0 : -1;
}

static napi_value bad(napi_env env, const char *usage) {
  napi_throw_type_error(env, NULL, usage);
  return NULL;
}

static napi_value int_value(napi_env env, int64_t n) {
  napi_value v;
  napi_create_int64(env, n, &v);
  return v;
}

static void fd_path(char *buf, size_t len, int fd) { snprintf(buf, len, "/proc/self/fd/%d", fd); }

/* openat2(dirfd, path, flags, mode, resolve[, missingOk]): a close-on-exec fd; -1 for ENOENT when missingOk (no exception to build) */
static napi_value js_openat2(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  bool missing_ok = false;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 5) return bad(env, "openat2(dirfd, path, flags, mode, resolve)");
  if (argc > 5) napi_get_value_bool(env, argv[5], &missing_ok);
  int32_t dirfd, flags, mode, resolve;
  char path[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], path, sizeof(path)) || arg_int(env, argv[2], &flags) ||
      arg_int(env, argv[3], &mode) || arg_int(env, argv[4], &resolve))
    return bad(env, "openat2(dirfd, path, flags, mode, resolve)");
  struct open_how how = {.flags = (uint64_t)(uint32_t)flags | O_CLOEXEC, .mode = (flags & O_CREAT) ? (uint64_t)mode : 0,
                         .resolve = (uint64_t)(uint32_t)resolve};
  long fd = syscall(SYS_openat2, dirfd, path[0] ? path : ".", &how, sizeof(how));
  if (fd < 0 && missing_ok && errno == ENOENT) return int_value(env, -1);
  if (fd < 0) return fsx_throw_errno(env, "openat2", path);
  return int_value(env, fd);
}

/* mkdirat(dirfd, name, mode) */
static napi_value js_mkdirat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t dirfd, mode;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name)) || arg_int(env, argv[2], &mode))
    return bad(env, "mkdirat(dirfd, name, mode)");
  if (mkdirat(dirfd, name, (mode_t)mode) < 0) return fsx_throw_errno(env, "mkdirat", name);
  return NULL;
}

/* symlinkat(target, dirfd, name) */
static napi_value js_symlinkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t dirfd;
  char target[FSX_PATH_MAX], name[FSX_PATH_MAX];
  if (arg_name(env, argv[0], target, sizeof(target)) || arg_int(env, argv[1], &dirfd) || arg_name(env, argv[2], name, sizeof(name)))
    return bad(env, "symlinkat(target, dirfd, name)");
  if (symlinkat(target, dirfd, name) < 0) return fsx_throw_errno(env, "symlinkat", name);
  return NULL;
}

/* linkat(fd, dirfd, name): a new name for the file open as fd (AT_EMPTY_PATH) */
static napi_value js_linkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd, dirfd;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &fd) || arg_int(env, argv[1], &dirfd) || arg_name(env, argv[2], name, sizeof(name)))
    return bad(env, "linkat(fd, dirfd, name)");
  if (linkat(fd, "", dirfd, name, AT_EMPTY_PATH) < 0) return fsx_throw_errno(env, "linkat", name);
  return NULL;
}

/* mknodat(dirfd, name, mode, major, minor) */
static napi_value js_mknodat(napi_env env, napi_callback_info info) {
  ARGS(5);
  int32_t dirfd, mode, major, minor;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name)) || arg_int(env, argv[2], &mode) ||
      arg_int(env, argv[3], &major) || arg_int(env, argv[4], &minor))
    return bad(env, "mknodat(dirfd, name, mode, major, minor)");
  if (mknodat(dirfd, name, (mode_t)mode, makedev((unsigned)major, (unsigned)minor)) < 0) return fsx_throw_errno(env, "mknodat", name);
  return NULL;
}

/* unlinkat(dirfd, name, dir: boolean) */
static napi_value js_unlinkat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t dirfd;
  bool dir;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name)) || napi_get_value_bool(env, argv[2], &dir) != napi_ok)
    return bad(env, "unlinkat(dirfd, name, dir)");
  if (unlinkat(dirfd, name, dir ? AT_REMOVEDIR : 0) < 0) return fsx_throw_errno(env, "unlinkat", name);
  return NULL;
}

/* readlinkat(dirfd, name): the link's target ("" names the O_PATH fd's own link) */
static napi_value js_readlinkat(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t dirfd;
  char name[FSX_PATH_MAX], buf[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name))) return bad(env, "readlinkat(dirfd, name)");
  ssize_t n = readlinkat(dirfd, name, buf, sizeof(buf));
  if (n < 0) return fsx_throw_errno(env, "readlinkat", name);
  napi_value out;
  napi_create_string_utf8(env, buf, (size_t)n, &out);
  return out;
}

/* fchownat(dirfd, name, uid, gid): never through a final symlink; "" is dirfd itself */
static napi_value js_fchownat(napi_env env, napi_callback_info info) {
  ARGS(4);
  int32_t dirfd, uid, gid;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name)) || arg_int(env, argv[2], &uid) || arg_int(env, argv[3], &gid))
    return bad(env, "fchownat(dirfd, name, uid, gid)");
  if (fchownat(dirfd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW | (name[0] ? 0 : AT_EMPTY_PATH)) < 0) return fsx_throw_errno(env, "fchownat", name);
  return NULL;
}

/* utimensat(dirfd, name, seconds): atime and mtime, never through a final symlink */
static napi_value js_utimensat(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t dirfd;
  double secs;
  char name[FSX_PATH_MAX];
  if (arg_int(env, argv[0], &dirfd) || arg_name(env, argv[1], name, sizeof(name)) || napi_get_value_double(env, argv[2], &secs) != napi_ok || !name[0])
    return bad(env, "utimensat(dirfd, name, seconds)");
  struct timespec ts[2];
  ts[0].tv_sec = (time_t)secs;
  ts[0].tv_nsec = (long)((secs - (double)ts[0].tv_sec) * 1e9);
  ts[1] = ts[0];
  if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) return fsx_throw_errno(env, "utimensat", name);
  return NULL;
}

/* chmodFd(fd, mode): the mode of the file open as fd (an O_PATH fd too) */
static napi_value js_chmod_fd(napi_env env, napi_callback_info info) {
  ARGS(2);
  int32_t fd, mode;
  char p[64];
  if (arg_int(env, argv[0], &fd) || arg_int(env, argv[1], &mode)) return bad(env, "chmodFd(fd, mode)");
  fd_path(p, sizeof(p), fd);
  if (chmod(p, (mode_t)mode) < 0) return fsx_throw_errno(env, "chmod", p);
  return NULL;
}

/* readdirFd(fd): the names in the directory open as fd, without . and .. */
static napi_value js_readdir_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  if (arg_int(env, argv[0], &fd)) return bad(env, "readdirFd(fd)");
  int d = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (d < 0) return fsx_throw_errno(env, "openat", ".");
  DIR *dir = fdopendir(d);
  if (!dir) {
    close(d);
    return fsx_throw_errno(env, "fdopendir", ".");
  }
  napi_value out;
  napi_create_array(env, &out);
  uint32_t i = 0;
  struct dirent *e;
  errno = 0;
  while ((e = readdir(dir))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    napi_value s;
    napi_create_string_utf8(env, e->d_name, NAPI_AUTO_LENGTH, &s);
    napi_set_element(env, out, i++, s);
  }
  int err = errno;
  closedir(dir);
  if (err) {
    errno = err;
    return fsx_throw_errno(env, "readdir", ".");
  }
  return out;
}

/* xattrsFd(fd): [name, Buffer][] of the file open as fd */
static napi_value js_xattrs_fd(napi_env env, napi_callback_info info) {
  ARGS(1);
  int32_t fd;
  char p[64], names[65536];
  if (arg_int(env, argv[0], &fd)) return bad(env, "xattrsFd(fd)");
  fd_path(p, sizeof(p), fd);
  napi_value out;
  napi_create_array(env, &out);
  ssize_t n = listxattr(p, names, sizeof(names));
  if (n < 0 && (errno == ENOTSUP || errno == EPERM)) return out;
  if (n < 0) return fsx_throw_errno(env, "listxattr", p);
  static char value[65536];
  uint32_t i = 0;
  for (ssize_t off = 0; off < n; off += (ssize_t)strlen(names + off) + 1) {
    ssize_t v = getxattr(p, names + off, value, sizeof(value));
    if (v < 0) continue; /* removed meanwhile, or not readable */
    napi_value pair, k, b;
    napi_create_array_with_length(env, 2, &pair);
    napi_create_string_utf8(env, names + off, NAPI_AUTO_LENGTH, &k);
    napi_create_buffer_copy(env, (size_t)v, value, NULL, &b);
    napi_set_element(env, pair, 0, k);
    napi_set_element(env, pair, 1, b);
    napi_set_element(env, out, i++, pair);
  }
  return out;
}

/* setxattrFd(fd, name, value: Buffer) on the file open as fd */
static napi_value js_setxattr_fd(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t fd;
  char p[64], name[256];
  void *data;
  size_t len;
  if (arg_int(env, argv[0], &fd) || arg_name(env, argv[1], name, sizeof(name)) || napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok)
    return bad(env, "setxattrFd(fd, name, value)");
  fd_path(p, sizeof(p), fd);
  if (setxattr(p, name, data, len, 0) < 0) return fsx_throw_errno(env, "setxattr", name);
  return NULL;
}

/* copyFileRange(in, out, length): length bytes from in's start to out's, moved in the kernel (copy_file_range; sendfile between
 * filesystems, which copy_file_range refuses); the bytes copied (fewer when in is shorter now) */
static napi_value js_copy_file_range(napi_env env, napi_callback_info info) {
  ARGS(3);
  int32_t in, out;
  int64_t len;
  if (arg_int(env, argv[0], &in) || arg_int(env, argv[1], &out) || napi_get_value_int64(env, argv[2], &len) != napi_ok || len < 0)
    return bad(env, "copyFileRange(in, out, length)");
  loff_t from = 0, to = 0;
  bool across = false;
  while (from < len) {
    ssize_t n = across ? sendfile(out, in, &from, (size_t)(len - from)) : copy_file_range(in, &from, out, &to, (size_t)(len - from), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && !across && (errno == EXDEV || errno == EOPNOTSUPP || errno == EINVAL || errno == ENOSYS)) { across = true; continue; }
    if (n < 0) return fsx_throw_errno(env, across ? "sendfile" : "copy_file_range", "");
    if (n == 0) break;
  }
  return int_value(env, from);
}

void fsx_register_at(napi_env env, napi_value exports) {
  static const struct { const char *name; napi_callback fn; } calls[] = {
      {"openat2", js_openat2},     {"mkdirat", js_mkdirat},       {"symlinkat", js_symlinkat}, {"linkat", js_linkat},
      {"mknodat", js_mknodat},     {"unlinkat", js_unlinkat},     {"readlinkat", js_readlinkat}, {"fchownat", js_fchownat},
      {"utimensat", js_utimensat}, {"chmodFd", js_chmod_fd},      {"readdirFd", js_readdir_fd}, {"xattrsFd", js_xattrs_fd},
      {"setxattrFd", js_setxattr_fd}, {"copyFileRange", js_copy_file_range}
  };
  for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
    napi_value f;
    napi_create_function(env, calls[i].name, NAPI_AUTO_LENGTH, calls[i].fn, NULL, &f);
    napi_set_named_property(env, exports, calls[i].name, f);
  }
  static const struct { const char *name; int64_t value; } consts[] = {
      {"O_PATH", O_PATH}, {"RESOLVE_IN_ROOT", RESOLVE_IN_ROOT}, {"RESOLVE_BENEATH", RESOLVE_BENEATH},
      {"RESOLVE_NO_SYMLINKS", RESOLVE_NO_SYMLINKS}, {"RESOLVE_NO_MAGICLINKS", RESOLVE_NO_MAGICLINKS}, {"RESOLVE_NO_XDEV", RESOLVE_NO_XDEV},
  };
  for (size_t i = 0; i < sizeof(consts) / sizeof(consts[0]); i++) napi_set_named_property(env, exports, consts[i].name, int_value(env, consts[i].value));
}
