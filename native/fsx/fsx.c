/* berth_fsx: the file operations Node has no call for, used when layers are
 * unpacked and diffed: mknod (device nodes, fifos, overlay whiteouts) and
 * extended attributes (security.capability, trusted.overlay.opaque, ...);
 * flock for the stores; mount/umount for container roots; sendFds, which
 * hands an attached client's connection (or its own stdout and stderr, which
 * peerFds takes) to its container's shim; peerCred and dup2, with which a
 * CLI worker takes the place of the berth CLI's front; spawn and reap, which
 * start a shim without copying the daemon's page tables.
 * Each call is synchronous and throws an Error with Node's code/syscall/path. */

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
#include <sys/xattr.h>
#include "../common/sealed.h"
#include "fsx.h"

#define PATH_MAX_LEN 4096
#define CHECK(call)                                                    \
  do {                                                                 \
    if ((call) != napi_ok) {                                           \
      napi_throw_error(env, NULL, "berth_fsx: bad arguments");         \
      return NULL;                                                     \
    }                                                                  \
  } while (0)

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

static int get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n;
  if (napi_get_value_string_utf8(env, v, buf, len, &n) != napi_ok || n >= len - 1) return -1;
  return 0;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char path[PATH_MAX_LEN];
  uint32_t mode, major, minor;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 4 || get_string(env, argv[0], path, sizeof(path)) < 0) {
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
  if (argc < 3 || get_string(env, argv[0], path, sizeof(path)) < 0 || get_string(env, argv[1], name, sizeof(name)) < 0 ||
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
  if (argc < 2 || get_string(env, argv[0], path, sizeof(path)) < 0 || get_string(env, argv[1], name, sizeof(name)) < 0) {
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
  if (argc < 1 || get_string(env, argv[0], path, sizeof(path)) < 0) {
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

static int get_str(napi_env env, napi_value v, char *buf, size_t len) {
  size_t n;
  return napi_get_value_string_utf8(env, v, buf, len, &n) == napi_ok && n < len - 1 ? 0 : -1;
}

/* mount(source, target, fstype, flags, data): a container's root (overlay or bind) */
static napi_value js_mount(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  static char src[PATH_MAX_LEN], tgt[PATH_MAX_LEN], type[64], data[16384];
  double flags;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 5 || get_str(env, argv[0], src, sizeof(src)) || get_str(env, argv[1], tgt, sizeof(tgt)) ||
      get_str(env, argv[2], type, sizeof(type)) || napi_get_value_double(env, argv[3], &flags) != napi_ok ||
      get_str(env, argv[4], data, sizeof(data))) {
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
  if (argc < 1 || get_str(env, argv[0], tgt, sizeof(tgt))) {
    napi_throw_type_error(env, NULL, "umount(target, detach)");
    return NULL;
  }
  if (argc > 1) napi_get_value_bool(env, argv[1], &detach);
  if (umount2(tgt, detach ? MNT_DETACH : 0) < 0) return fsx_throw_errno(env, "umount", tgt);
  return NULL;
}

/* The call's one path argument into `path` (PATH_MAX_LEN bytes); false, with a TypeError thrown, when it has none. */
static bool path_arg(napi_env env, napi_callback_info info, const char *usage, char *path) {
  size_t argc = 1;
  napi_value argv[1];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc >= 1 && !get_str(env, argv[0], path, PATH_MAX_LEN)) return true;
  napi_throw_type_error(env, NULL, usage);
  return false;
}

/* isMountPoint(path): whether path is the root of a mount (statx's
 * STATX_ATTR_MOUNT_ROOT, Linux 5.8); null when the kernel does not say. Reading
 * /proc/self/mountinfo instead costs a parse of every mount on the host. */
static napi_value js_is_mount_point(napi_env env, napi_callback_info info) {
  napi_value out;
  char path[PATH_MAX_LEN];
  if (!path_arg(env, info, "isMountPoint(path)", path)) return NULL;
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
static bool int32_arg(napi_env env, napi_callback_info info, const char *usage, int32_t *v) {
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
  if (!int32_arg(env, info, "tryLock(fd)", &fd)) return NULL;
  int r = flock(fd, LOCK_EX | LOCK_NB);
  if (r < 0 && errno != EWOULDBLOCK) return fsx_throw_errno(env, "flock", "(fd)");
  napi_get_boolean(env, r == 0, &out);
  return out;
}

#define MAX_SENT_FDS 4

/* sendFds(sock, fds, text): sends text on the unix socket `sock` with `fds`
 * attached (SCM_RIGHTS), in one message so the receiver gets them together. */
static napi_value js_send_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t sock;
  uint32_t nfds = 0;
  bool is_array = false;
  char text[256];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc == 3) napi_is_array(env, argv[1], &is_array);
  if (!is_array || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_array_length(env, argv[1], &nfds) != napi_ok ||
      nfds < 1 || nfds > MAX_SENT_FDS || get_str(env, argv[2], text, sizeof(text)) || !text[0]) {
    napi_throw_type_error(env, NULL, "sendFds(sock, fds (1-4), text)");
    return NULL;
  }
  int fds[MAX_SENT_FDS];
  for (uint32_t i = 0; i < nfds; i++) {
    napi_value v;
    CHECK(napi_get_element(env, argv[1], i, &v));
    CHECK(napi_get_value_int32(env, v, &fds[i]));
  }
  char cbuf[CMSG_SPACE(sizeof(fds))];
  memset(cbuf, 0, sizeof(cbuf));
  struct iovec iov = {.iov_base = text, .iov_len = strlen(text)};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = CMSG_SPACE(nfds * sizeof(int))};
  struct cmsghdr *c = CMSG_FIRSTHDR(&m);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(nfds * sizeof(int));
  memcpy(CMSG_DATA(c), fds, nfds * sizeof(int));
  ssize_t n;
  do n = sendmsg(sock, &m, MSG_NOSIGNAL); while (n < 0 && errno == EINTR);
  if (n < 0) return fsx_throw_errno(env, "sendmsg", "(socket)");
  if ((size_t)n != iov.iov_len) {
    napi_throw_error(env, NULL, "sendmsg: short write");
    return NULL;
  }
  return NULL;
}

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

/* peerFds(sock, pid, nums): copies of the file descriptors `nums` of the
 * process at the other end of the unix socket `sock` (pidfd_getfd,
 * close-on-exec), which must be `pid` (one that connected through a proxy
 * is not: EPERM). The process is then named by SO_PEERPIDFD, so a pid that
 * was reused cannot be mistaken for it; before 6.5, by pidfd_open. */
static napi_value js_peer_fds(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  int32_t sock, pid;
  uint32_t n = 0;
  bool is_array = false;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc == 3) napi_is_array(env, argv[2], &is_array);
  if (!is_array || napi_get_value_int32(env, argv[0], &sock) != napi_ok || napi_get_value_int32(env, argv[1], &pid) != napi_ok ||
      napi_get_array_length(env, argv[2], &n) != napi_ok || n > 16) {
    napi_throw_type_error(env, NULL, "peerFds(sock, pid, nums)");
    return NULL;
  }
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return fsx_throw_errno(env, "getsockopt", "(socket)");
  if (cred.pid != pid) {
    errno = EPERM;
    return fsx_throw_errno(env, "peerFds", "(not the peer)");
  }
  int pidfd = -1;
  len = sizeof(pidfd);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) < 0) {
    if (errno != ENOPROTOOPT) return fsx_throw_errno(env, "getsockopt", "(socket)");
    pidfd = (int)syscall(SYS_pidfd_open, cred.pid, 0);
    if (pidfd < 0) return fsx_throw_errno(env, "pidfd_open", "(peer)");
  }
  CHECK(napi_create_array_with_length(env, n, &out));
  int got[16];
  for (uint32_t i = 0; i < n; i++) {
    napi_value v;
    int32_t num;
    if (napi_get_element(env, argv[2], i, &v) != napi_ok || napi_get_value_int32(env, v, &num) != napi_ok) num = -1;
    got[i] = num < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, pidfd, num, 0);
    if (got[i] < 0) {
      int e = num < 0 ? EBADF : errno;
      for (uint32_t k = 0; k < i; k++) close(got[k]);
      close(pidfd);
      errno = e;
      return fsx_throw_errno(env, "pidfd_getfd", "(peer)");
    }
    CHECK(napi_create_int32(env, got[i], &v));
    CHECK(napi_set_element(env, out, i, v));
  }
  close(pidfd);
  return out;
}

/* peerCred(sock): {pid, uid} of the process at the other end of unix socket `sock` (SO_PEERCRED) */
static napi_value js_peer_cred(napi_env env, napi_callback_info info) {
  int32_t sock;
  if (!int32_arg(env, info, "peerCred(sock)", &sock)) return NULL;
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return fsx_throw_errno(env, "getsockopt", "(socket)");
  napi_value out, pid, uid;
  CHECK(napi_create_object(env, &out));
  CHECK(napi_create_int32(env, cred.pid, &pid));
  CHECK(napi_create_uint32(env, cred.uid, &uid));
  CHECK(napi_set_named_property(env, out, "pid", pid));
  CHECK(napi_set_named_property(env, out, "uid", uid));
  return out;
}

/* dup2(from, to): makes `to` a copy of `from`, inheritable (as stdio is) */
static napi_value js_dup2(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int32_t from, to;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 2 ||
      napi_get_value_int32(env, argv[0], &from) != napi_ok || napi_get_value_int32(env, argv[1], &to) != napi_ok) {
    napi_throw_type_error(env, NULL, "dup2(from, to)");
    return NULL;
  }
  if (dup2(from, to) < 0) return fsx_throw_errno(env, "dup2", "(fd)");
  return NULL;
}

extern char **environ;

/* pipe(): [readFd, writeFd], both close-on-exec */
static napi_value js_pipe(napi_env env, napi_callback_info info) {
  (void)info;
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) < 0) return fsx_throw_errno(env, "pipe2", "(pipe)");
  napi_value out, a, b;
  CHECK(napi_create_array_with_length(env, 2, &out));
  CHECK(napi_create_int32(env, fds[0], &a));
  CHECK(napi_create_int32(env, fds[1], &b));
  CHECK(napi_set_element(env, out, 0, a));
  CHECK(napi_set_element(env, out, 1, b));
  return out;
}

/* listenUnix(path): a close-on-exec unix stream socket bound at `path` (a
 * stale file there is replaced) and listening; its fd. Handed to a shim, it
 * takes connections before the shim runs, so nobody has to poll for it. */
static napi_value js_listen_unix(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], out;
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 1 || get_string(env, argv[0], a.sun_path, sizeof(a.sun_path)) < 0) {
    napi_throw_type_error(env, NULL, "listenUnix(path): a path shorter than 108 bytes");
    return NULL;
  }
  unlink(a.sun_path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fsx_throw_errno(env, "socket", a.sun_path);
  if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) {
    int e = errno;
    close(fd);
    errno = e;
    return fsx_throw_errno(env, "listen", a.sun_path);
  }
  CHECK(napi_create_int32(env, fd, &out));
  return out;
}

/* sealedCopy(path): a close-on-exec memfd holding a copy of the file at
 * `path`, sealed against every change; its fd. berthd makes one of the
 * executor and hands it to each exec's shim, which runs it from there
 * (CVE-2019-5736): the executor no longer copies itself on every exec. */
static napi_value js_sealed_copy(napi_env env, napi_callback_info info) {
  napi_value out;
  char path[PATH_MAX_LEN];
  if (!path_arg(env, info, "sealedCopy(path)", path)) return NULL;
  int src = open(path, O_RDONLY | O_CLOEXEC);
  if (src < 0) return fsx_throw_errno(env, "open", path);
  int mfd = sealed_copy(src);
  int e = errno;
  close(src);
  errno = e;
  if (mfd < 0) return fsx_throw_errno(env, "sealed copy", path);
  CHECK(napi_create_int32(env, mfd, &out));
  return out;
}

/* spawn(path, argv, fds): starts `path` in a new session with fds[i] as its
 * fd i (-1: /dev/null), no other descriptor, and default signal handling;
 * its pid. posix_spawn
 * shares the daemon's memory until the exec (vfork-like), where Node's
 * spawn forks and copies the page tables of a large process first. The
 * child is not Node's: the caller reaps it (reap). */
static napi_value js_spawn(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], out;
  static char path[PATH_MAX_LEN];
  uint32_t nargs = 0, nfds = 0;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || get_str(env, argv[0], path, sizeof(path)) || napi_get_array_length(env, argv[1], &nargs) != napi_ok ||
      napi_get_array_length(env, argv[2], &nfds) != napi_ok || nargs == 0 || nargs > 256 || nfds > 16) {
    napi_throw_type_error(env, NULL, "spawn(path, argv, fds)");
    return NULL;
  }
  char *args[257] = {0};
  int ok = 1;
  for (uint32_t i = 0; i < nargs && ok; i++) {
    napi_value v;
    size_t n = 0;
    ok = napi_get_element(env, argv[1], i, &v) == napi_ok && napi_get_value_string_utf8(env, v, NULL, 0, &n) == napi_ok && (args[i] = malloc(n + 1)) &&
         napi_get_value_string_utf8(env, v, args[i], n + 1, &n) == napi_ok;
  }
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t at;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&at);
  for (uint32_t i = 0; i < nfds && ok; i++) {
    napi_value v;
    int32_t fd;
    ok = napi_get_element(env, argv[2], i, &v) == napi_ok && napi_get_value_int32(env, v, &fd) == napi_ok;
    if (ok) ok = (fd < 0 ? posix_spawn_file_actions_addopen(&fa, (int)i, "/dev/null", O_RDWR, 0) : posix_spawn_file_actions_adddup2(&fa, fd, (int)i)) == 0;
  }
  /* nothing else of ours: a descriptor berthd inherited without close-on-exec (from the shell that started it) stops here */
  if (ok) ok = posix_spawn_file_actions_addclosefrom_np(&fa, (int)nfds) == 0;
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&at, &none);
  posix_spawnattr_setsigdefault(&at, &all);
  posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int err = ok ? posix_spawn(&pid, path, &fa, &at, args, environ) : EINVAL;
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&at);
  for (uint32_t i = 0; i < nargs; i++) free(args[i]);
  if (err) {
    errno = err;
    return fsx_throw_errno(env, "posix_spawn", path);
  }
  CHECK(napi_create_int32(env, pid, &out));
  return out;
}

/* reap(pid): true once the child has ended (its status collected), false while it runs */
static napi_value js_reap(napi_env env, napi_callback_info info) {
  napi_value out;
  int32_t pid;
  if (!int32_arg(env, info, "reap(pid)", &pid)) return NULL;
  if (pid <= 0) {
    napi_throw_type_error(env, NULL, "reap(pid): pid must be positive");
    return NULL;
  }
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  napi_get_boolean(env, r == pid || (r < 0 && errno == ECHILD), &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_enumerable, NULL},
      {"tryLock", NULL, js_try_lock, NULL, NULL, NULL, napi_enumerable, NULL},
      {"mount", NULL, js_mount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"umount", NULL, js_umount, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"isMountPoint", NULL, js_is_mount_point, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendFds", NULL, js_send_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerFds", NULL, js_peer_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dup2", NULL, js_dup2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reap", NULL, js_reap, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  fsx_register_at(env, exports);
  return exports;
}

NAPI_MODULE(berth_fsx, init)
