/* berth_fsx's process and descriptor calls: sendFds (a client's connection,
 * or its own stdout and stderr that peerFds takes, handed to a shim),
 * peerCred and dup2 (a CLI worker takes the place of the berth CLI's front),
 * pipe, listenUnix, sealedCopy, and spawn and reap, which start a shim
 * without copying the daemon's page tables; schedIdle, which keeps a
 * starting CLI worker off the CPU the commands use. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/resource.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include "../common/sealed.h"
#include "fsx.h"

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
      nfds < 1 || nfds > MAX_SENT_FDS || fsx_get_str(env, argv[2], text, sizeof(text)) || !text[0]) {
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
  if (!fsx_int32_arg(env, info, "peerCred(sock)", &sock)) return NULL;
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
  if (argc < 1 || fsx_get_str(env, argv[0], a.sun_path, sizeof(a.sun_path)) < 0) {
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
  if (!fsx_path_arg(env, info, "sealedCopy(path)", path)) return NULL;
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
  if (argc < 3 || fsx_get_str(env, argv[0], path, sizeof(path)) || napi_get_array_length(env, argv[1], &nargs) != napi_ok ||
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
  if (!fsx_int32_arg(env, info, "reap(pid)", &pid)) return NULL;
  if (pid <= 0) {
    napi_throw_type_error(env, NULL, "reap(pid): pid must be positive");
    return NULL;
  }
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  napi_get_boolean(env, r == pid || (r < 0 && errno == ECHILD), &out);
  return out;
}

/* schedIdle(idle): every thread to SCHED_IDLE, or to SCHED_OTHER at nice 0.
 * Policy and nice are per thread, and Node's exist before its JavaScript. */
static napi_value js_sched_idle(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  bool idle;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 1 || napi_get_value_bool(env, argv[0], &idle) != napi_ok) {
    napi_throw_type_error(env, NULL, "schedIdle(idle)");
    return NULL;
  }
  DIR *d = opendir("/proc/self/task");
  if (!d) return fsx_throw_errno(env, "opendir", "/proc/self/task");
  struct sched_param none = {.sched_priority = 0};
  int err = 0;
  for (struct dirent *e; (e = readdir(d));) {
    pid_t tid = (pid_t)atoi(e->d_name);
    if (tid > 0 && (sched_setscheduler(tid, idle ? SCHED_IDLE : SCHED_OTHER, &none) < 0 || (!idle && setpriority(PRIO_PROCESS, (id_t)tid, 0) < 0)) && errno != ESRCH) err = errno;
  }
  closedir(d);
  if (err) { errno = err; return fsx_throw_errno(env, "sched_setscheduler", "/proc/self/task"); }
  return NULL;
}

void fsx_register_proc(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"sendFds", NULL, js_send_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerFds", NULL, js_peer_fds, NULL, NULL, NULL, napi_enumerable, NULL},
      {"peerCred", NULL, js_peer_cred, NULL, NULL, NULL, napi_enumerable, NULL},
      {"dup2", NULL, js_dup2, NULL, NULL, NULL, napi_enumerable, NULL},
      {"pipe", NULL, js_pipe, NULL, NULL, NULL, napi_enumerable, NULL},
      {"listenUnix", NULL, js_listen_unix, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sealedCopy", NULL, js_sealed_copy, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spawn", NULL, js_spawn, NULL, NULL, NULL, napi_enumerable, NULL},
      {"reap", NULL, js_reap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"schedIdle", NULL, js_sched_idle, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
