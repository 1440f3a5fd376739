/* One function per plan op. Each does exactly what its op says; the order,
 * the values and every decision about them come from the plan. */
#include "executor.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>

#define A(i) (op->argv[i])
#define U64(i) strtoull(op->argv[i], NULL, 10)
#define I64(i) strtoll(op->argv[i], NULL, 10)

static int fail(struct exec_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(struct exec_ctx *ctx, const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(ctx->errbuf, sizeof(ctx->errbuf), fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof(ctx->errbuf) && e)
    snprintf(ctx->errbuf + n, sizeof(ctx->errbuf) - (size_t)n, ": %s", strerror(e));
  return -1;
}

static int need_args(struct exec_ctx *ctx, const struct plan_op *op, unsigned n) {
  if (op->argc >= n) return 0;
  errno = 0;
  return fail(ctx, "plan: op %u needs %u arguments, has %u", op->code, n, op->argc);
}

static int write_file(const char *path, const char *data, size_t len) {
  int fd = open(path, O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return -1;
  ssize_t w = write(fd, data, len);
  int e = errno;
  close(fd);
  if (w < 0) {
    errno = e;
    return -1;
  }
  if ((size_t)w != len) {
    errno = EIO;
    return -1;
  }
  return 0;
}

static void fd_path(char *buf, size_t len, int fd) { snprintf(buf, len, "/proc/self/fd/%d", fd); }

/* --- synchronisation between parent and child ------------------------- */

static int sync_send(struct exec_ctx *ctx, char kind, const char *text) {
  char msg[1100];
  size_t n = strlen(text);
  if (n > sizeof(msg) - 2) n = sizeof(msg) - 2;
  msg[0] = kind;
  memcpy(msg + 1, text, n);
  return send(ctx->sync_fd, msg, n + 1, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static ssize_t sync_recv(struct exec_ctx *ctx, char *buf, size_t len) {
  ssize_t n;
  do n = recv(ctx->sync_fd, buf, len - 1, 0);
  while (n < 0 && errno == EINTR);
  if (n >= 0) buf[n] = 0;
  return n;
}

static int op_sync(struct exec_ctx *ctx, const struct plan_op *op, int wait_ack) {
  if (sync_send(ctx, 'T', A(0)) < 0) return fail(ctx, "sync %s: send", A(0));
  if (!wait_ack) return 0;
  char buf[64];
  ssize_t n = sync_recv(ctx, buf, sizeof(buf));
  if (n <= 0 || buf[0] != 'A') {
    errno = 0;
    return fail(ctx, "sync %s: the runtime went away", A(0));
  }
  if (buf[1]) ctx->host_pid = (pid_t)atoi(buf + 1);
  return 0;
}

static int op_wait(struct exec_ctx *ctx, const struct plan_op *op) {
  char buf[1200];
  ssize_t n = sync_recv(ctx, buf, sizeof(buf));
  if (n > 0 && buf[0] == 'T' && strcmp(buf + 1, A(0)) == 0) return 0;
  errno = 0;
  if (n > 0 && buf[0] == 'E') return fail(ctx, "%s", buf + 1);
  int st = 0;
  waitpid(ctx->child, &st, 0);
  if (n > 0) return fail(ctx, "container init: expected sync '%s', got '%s'", A(0), buf);
  if (WIFSIGNALED(st)) return fail(ctx, "container init was killed by signal %d before '%s'", WTERMSIG(st), A(0));
  return fail(ctx, "container init exited with status %d before '%s'", WEXITSTATUS(st), A(0));
}

static int op_ack(struct exec_ctx *ctx) {
  char pid[32];
  snprintf(pid, sizeof(pid), "%d", (int)ctx->child);
  return sync_send(ctx, 'A', pid) < 0 ? fail(ctx, "sync: release container init") : 0;
}

/* --- hooks -------------------------------------------------------------- */

static int op_hook(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 3) < 0) return -1;
  unsigned argc = (unsigned)U64(2);
  if (op->argc < 3 + argc + 1) return need_args(ctx, op, 3 + argc + 1);
  unsigned envc = (unsigned)U64(3 + argc);
  unsigned base = 4 + argc + envc;
  if (need_args(ctx, op, base + 2) < 0) return -1;
  const char *path = A(0);
  long timeout = (long)I64(1);
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) return fail(ctx, "hook %s", path);
  for (unsigned i = 0; i < argc; i++) argv[i] = (char *)A(3 + i);
  for (unsigned i = 0; i < envc; i++) envp[i] = (char *)A(4 + argc + i);
  char state[65536];
  int slen = snprintf(state, sizeof(state), "%s%d%s", A(base), ctx->is_child ? (int)ctx->host_pid : (int)ctx->child,
                      A(base + 1));
  if (slen < 0 || (size_t)slen >= sizeof(state)) {
    errno = E2BIG;
    return fail(ctx, "hook %s: state", path);
  }
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) < 0) return fail(ctx, "hook %s: pipe", path);
  pid_t pid = fork();
  if (pid < 0) return fail(ctx, "hook %s: fork", path);
  if (pid == 0) {
    dup2(pipefd[0], 0);
    execve(path, argc ? argv : (char *[]){(char *)path, NULL}, envp);
    fprintf(stderr, "berth-exec: hook %s: %s\n", path, strerror(errno));
    _exit(127);
  }
  close(pipefd[0]);
  /* The hook may not read its stdin; a full pipe must not block us. */
  fcntl(pipefd[1], F_SETFL, O_NONBLOCK);
  if (write(pipefd[1], state, (size_t)slen) < 0) { /* a hook that ignores stdin */ }
  close(pipefd[1]);
  free(argv);
  free(envp);
  struct timespec start, now;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (;;) {
    int st;
    pid_t r = waitpid(pid, &st, timeout > 0 ? WNOHANG : 0);
    if (r == pid) {
      errno = 0;
      if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
      if (WIFSIGNALED(st)) return fail(ctx, "hook %s: killed by signal %d", path, WTERMSIG(st));
      return fail(ctx, "hook %s: exited with status %d", path, WEXITSTATUS(st));
    }
    if (r < 0 && errno != EINTR) return fail(ctx, "hook %s: wait", path);
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec - start.tv_sec >= timeout) {
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      errno = 0;
      return fail(ctx, "hook %s: timed out after %ld s", path, timeout);
    }
    struct timespec d = {0, 2000000};
    nanosleep(&d, NULL);
  }
}

/* --- filesystem --------------------------------------------------------- */

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static int op_mount(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 7) < 0) return -1;
  const char *src = A(0), *target = A(1), *fstype = A(2), *data = A(4);
  unsigned long flags = (unsigned long)U64(3);
  int create = (int)I64(5), in_root = (int)I64(6);
  char path[64];
  const char *where = target;
  int fd = -1;
  if (in_root) {
    if (ctx->root_fd < 0) {
      errno = 0;
      return fail(ctx, "mount %s: no root opened", target);
    }
    fd = create ? root_ensure(ctx->root_fd, target, create == 1) : root_open(ctx->root_fd, target, O_PATH, 0);
    if (fd < 0) return fail(ctx, "mount %s on %s: resolve target in rootfs", src, target);
    if (create == 1 || create == 2) {
      struct stat st;
      if (fstat(fd, &st) == 0 && (create == 1) != !!S_ISDIR(st.st_mode)) {
        close(fd);
        errno = create == 1 ? ENOTDIR : EISDIR;
        return fail(ctx, "mount %s on %s", src, target);
      }
    }
    fd_path(path, sizeof(path), fd);
    where = path;
  }
  int r = mount(*src ? src : NULL, where, *fstype ? fstype : NULL, flags, *data ? data : NULL);
  if (r < 0 && errno == EPERM && (flags & MS_REMOUNT)) {
    /* Flags locked by a less privileged owner must be kept on remount. */
    r = mount(NULL, where, NULL, flags | locked_flags(where), *data ? data : NULL);
  }
  int e = errno;
  if (fd >= 0) close(fd);
  errno = e;
  if (r < 0) return fail(ctx, "mount %s%s%s on %s (flags 0x%lx)", *fstype ? fstype : "", *fstype ? " " : "", src,
                         target, flags);
  return 0;
}

static int op_mknod(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 7) < 0) return -1;
  const char *path = A(0);
  char type = A(1)[0];
  mode_t mode = (mode_t)strtoul(A(4), NULL, 10);
  dev_t dev = makedev((unsigned)U64(2), (unsigned)U64(3));
  mode |= type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  char base[256];
  int parent = root_parent(ctx->root_fd, path, base, sizeof(base), 0755);
  if (parent < 0) return fail(ctx, "device %s: parent directory", path);
  unlinkat(parent, base, 0);
  int r = mknodat(parent, base, mode, dev);
  if (r == 0) {
    fchmodat(parent, base, mode & 07777, 0);
    r = fchownat(parent, base, (uid_t)U64(5), (gid_t)U64(6), AT_SYMLINK_NOFOLLOW);
    close(parent);
    return r < 0 ? fail(ctx, "device %s: chown", path) : 0;
  }
  if (errno != EPERM || type == 'p') {
    close(parent);
    return fail(ctx, "device %s: mknod", path);
  }
  /* In a user namespace mknod is refused: bind the host's node instead. */
  int f = openat(parent, base, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  close(parent);
  if (f < 0) return fail(ctx, "device %s: create bind target", path);
  close(f);
  int fd = root_open(ctx->root_fd, path, O_PATH, 0);
  if (fd < 0) return fail(ctx, "device %s", path);
  char where[64];
  fd_path(where, sizeof(where), fd);
  char host[PATH_MAX];
  snprintf(host, sizeof(host), "/dev/%s", strncmp(path, "/dev/", 5) == 0 ? path + 5 : path);
  r = mount(host, where, NULL, MS_BIND, NULL);
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "device %s: bind %s", path, host) : 0;
}

static int op_symlink(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  char base[256];
  int parent = root_parent(ctx->root_fd, A(1), base, sizeof(base), 0755);
  if (parent < 0) return fail(ctx, "symlink %s", A(1));
  int r = symlinkat(A(0), parent, base);
  int e = errno;
  close(parent);
  errno = e;
  return (r < 0 && errno != EEXIST) ? fail(ctx, "symlink %s -> %s", A(1), A(0)) : 0;
}

static int op_mkdir(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  int fd = root_mkdir_p(ctx->root_fd, A(0), (mode_t)strtoul(A(1), NULL, 10));
  if (fd < 0) return fail(ctx, "mkdir %s", A(0));
  close(fd);
  return 0;
}

static int op_pivot_root(struct exec_ctx *ctx) {
  if (fchdir(ctx->root_fd) < 0) return fail(ctx, "pivot_root: chdir to rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) return fail(ctx, "pivot_root");
  /* The old root now sits under the new one: detach it without letting the
   * unmount propagate back to the host. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) return fail(ctx, "pivot_root: make old root slave");
  if (umount2(".", MNT_DETACH) < 0) return fail(ctx, "pivot_root: detach old root");
  if (chdir("/") < 0) return fail(ctx, "pivot_root: chdir /");
  close(ctx->root_fd);
  ctx->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return 0;
}

static int op_chroot(struct exec_ctx *ctx) {
  if (fchdir(ctx->root_fd) < 0) return fail(ctx, "chroot: chdir to rootfs");
  if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) return fail(ctx, "chroot: move rootfs to /");
  if (chroot(".") < 0) return fail(ctx, "chroot");
  if (chdir("/") < 0) return fail(ctx, "chroot: chdir /");
  close(ctx->root_fd);
  ctx->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return 0;
}

static int op_mask(struct exec_ctx *ctx, const struct plan_op *op) {
  int fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return errno == ENOENT ? 0 : fail(ctx, "mask %s", A(0));
  struct stat st;
  char where[64];
  fd_path(where, sizeof(where), fd);
  int r = fstat(fd, &st);
  if (r == 0) {
    if (S_ISDIR(st.st_mode))
      r = mount("tmpfs", where, "tmpfs", MS_RDONLY, "size=0,mode=0755");
    else
      r = mount("/dev/null", where, NULL, MS_BIND, NULL);
  }
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "mask %s", A(0)) : 0;
}

static int op_readonly(struct exec_ctx *ctx, const struct plan_op *op) {
  int fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return errno == ENOENT ? 0 : fail(ctx, "readonly %s", A(0));
  char where[64];
  fd_path(where, sizeof(where), fd);
  int r = mount(where, where, NULL, MS_BIND | MS_REC, NULL);
  close(fd);
  if (r < 0) return fail(ctx, "readonly %s: bind", A(0));
  /* Reopen: the old fd still names the covered directory, not the new mount. */
  fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return fail(ctx, "readonly %s", A(0));
  fd_path(where, sizeof(where), fd);
  unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;
  r = mount(NULL, where, NULL, fl, NULL);
  if (r < 0 && errno == EPERM) r = mount(NULL, where, NULL, fl | locked_flags(where), NULL);
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "readonly %s: remount", A(0)) : 0;
}

/* --- console ------------------------------------------------------------ */

static int send_fd(int sock, int fd, const char *name) {
  char cbuf[CMSG_SPACE(sizeof(int))];
  memset(cbuf, 0, sizeof(cbuf));
  struct iovec iov = {.iov_base = (void *)name, .iov_len = strlen(name)};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) < 0 ? -1 : 0;
}

static int op_recv_console(struct exec_ctx *ctx) {
  char buf[1200], cbuf[CMSG_SPACE(sizeof(int))];
  struct iovec iov = {.iov_base = buf, .iov_len = sizeof(buf) - 1};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
  ssize_t n;
  do n = recvmsg(ctx->sync_fd, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) return fail(ctx, "console: receive pty master");
  buf[n] = 0;
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (n > 0 && buf[0] == 'C' && c && c->cmsg_type == SCM_RIGHTS) {
    memcpy(&ctx->console_fd, CMSG_DATA(c), sizeof(int));
    return 0;
  }
  errno = 0;
  if (n > 0 && buf[0] == 'E') return fail(ctx, "%s", buf + 1);
  return fail(ctx, "console: the container init did not send its pty");
}

/* A unix socket of the runtime's side (console receiver, seccomp agent). */
static int connect_unix(struct exec_ctx *ctx, const char *path, const char *what) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) {
    errno = ENAMETOOLONG;
    return fail(ctx, "%s %s", what, path);
  }
  strcpy(sa.sun_path, path);
  int s = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) return fail(ctx, "%s %s", what, path);
  if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
    int e = errno;
    close(s);
    errno = e;
    return fail(ctx, "%s %s", what, path);
  }
  return s;
}

static int op_connect_console(struct exec_ctx *ctx, const struct plan_op *op) {
  int s = connect_unix(ctx, A(0), "console socket");
  if (s < 0) return -1;
  ctx->console_fd = s;
  return 0;
}

static int op_console(struct exec_ctx *ctx, int bind_console, int to_parent) {
  int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) return fail(ctx, "console: open /dev/ptmx");
  int unlock = 0;
  char name[64];
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
    return fail(ctx, "console: unlock pty");
  int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return fail(ctx, "console: open %s", name);
  if (ctx->console_fd >= 0) {
    if (send_fd(ctx->console_fd, master, name) < 0) return fail(ctx, "console: send pty master");
    close(ctx->console_fd);
    ctx->console_fd = -1;
  } else if (to_parent && send_fd(ctx->sync_fd, master, "C") < 0) {
    return fail(ctx, "console: send pty master to the supervisor");
  }
  close(master); /* whoever received it holds the pty open */
  int cfd = bind_console ? root_ensure(ctx->root_fd, "/dev/console", 0) : -1;
  if (bind_console && cfd < 0) return fail(ctx, "console: /dev/console");
  if (cfd >= 0) {
    char where[64];
    fd_path(where, sizeof(where), cfd);
    if (mount(name, where, NULL, MS_BIND, NULL) < 0) return fail(ctx, "console: bind %s on /dev/console", name);
    close(cfd);
  }
  if (ioctl(slave, TIOCSCTTY, 0) < 0) return fail(ctx, "console: set controlling terminal");
  for (int i = 0; i < 3; i++)
    if (dup2(slave, i) < 0) return fail(ctx, "console: dup2");
  if (slave > 2) close(slave);
  return 0;
}

/* --- credentials and limits --------------------------------------------- */

static int op_user(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 3) < 0) return -1;
  uid_t uid = (uid_t)U64(0);
  gid_t gid = (gid_t)U64(1);
  unsigned n = (unsigned)U64(2);
  if (need_args(ctx, op, 3 + n) < 0) return -1;
  gid_t groups[256];
  if (n > 256) n = 256;
  for (unsigned i = 0; i < n; i++) groups[i] = (gid_t)U64(3 + i);
  /* setgroups is refused in a user namespace whose setgroups is "deny". */
  if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0)) return fail(ctx, "setgroups");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail(ctx, "keep capabilities");
  if (setresgid(gid, gid, gid) < 0) return fail(ctx, "setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0) return fail(ctx, "setuid %u", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail(ctx, "keep capabilities");
  return 0;
}

static int last_cap(void) {
  static int last = -1;
  if (last >= 0) return last;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (!f || fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
  if (f) fclose(f);
  return last;
}

/* cgroup v2 has no devices files: access is decided by an eBPF program
 * attached to the container's cgroup (built by src/runtime/cgroups/device-filter.ts). */
static int op_device_filter(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  if (op->argl[1] == 0 || op->argl[1] % sizeof(struct bpf_insn) != 0) {
    errno = 0;
    return fail(ctx, "device filter: program of %u bytes", op->argl[1]);
  }
  static char log[8192];
  union bpf_attr load;
  memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)A(1);
  load.insn_cnt = op->argl[1] / sizeof(struct bpf_insn);
  load.license = (uint64_t)(uintptr_t)"Apache";
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
  if (prog < 0 && (errno == EACCES || errno == EINVAL)) { /* refused: load again for the verifier's reason */
    load.log_buf = (uint64_t)(uintptr_t)log;
    load.log_size = sizeof(log);
    load.log_level = 1;
    prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
    if (prog < 0) return fail(ctx, "device filter: the kernel refused the program: %.300s", log);
  }
  if (prog < 0) return fail(ctx, "device filter: load");
  int dir = open(A(0), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dir < 0) { close(prog); return fail(ctx, "device filter: open %s", A(0)); }
  union bpf_attr att;
  memset(&att, 0, sizeof(att));
  att.target_fd = (uint32_t)dir;
  att.attach_bpf_fd = (uint32_t)prog;
  att.attach_type = BPF_CGROUP_DEVICE;
  att.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &att, sizeof(att));
  int e = errno;
  close(dir);
  close(prog); /* the attachment keeps the program */
  errno = e;
  return rc < 0 ? fail(ctx, "device filter: attach to %s", A(0)) : 0;
}

static int op_cap_bounding(struct exec_ctx *ctx, const struct plan_op *op) {
  uint64_t keep = U64(0);
  int last = last_cap();
  for (int c = 0; c <= last && c < 64; c++) {
    if (keep & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) return fail(ctx, "drop capability %d", c);
  }
  return 0;
}

static int op_caps(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 4) < 0) return -1;
  uint64_t eff = U64(0), prm = U64(1), inh = U64(2), amb = U64(3);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
  };
  if (syscall(SYS_capset, &hdr, data) < 0) {
    int e = errno;
    for (int c = 0; e == EPERM && c < 64; c++)
      if ((prm & (1ULL << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0) {
        errno = 0;
        return fail(ctx, "capabilities: cap %d is outside the bounding set (the config's, or this runtime's own), so it cannot be granted", c);
      }
    errno = e;
    return fail(ctx, "capset");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return fail(ctx, "clear ambient capabilities");
  /* An ambient capability needs to be permitted and inheritable too. runc's
   * own `spec` asks for ambient ones without inheritable, and runc only warns
   * (in its log) and goes on: so does this, without a log to warn in. */
  for (int c = 0; c < 64; c++)
    if (amb & (1ULL << c)) (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  return 0;
}

static int op_seccomp(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  unsigned flags = (unsigned)U64(0);
  if (op->argl[1] % sizeof(struct sock_filter) != 0 || op->argl[1] == 0) {
    errno = EINVAL;
    return fail(ctx, "seccomp: program of %u bytes", op->argl[1]);
  }
  struct sock_fprog prog = {.len = (unsigned short)(op->argl[1] / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)(void *)A(1)};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0) return fail(ctx, "seccomp: load filter");
  if (!(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return 0;
  /* the agent gets the listener fd with the state; the pid goes where the plan marked it */
  if (ctx->listener_fd < 0 || op->argc < 3 || !A(2)[0]) return 0;
  char state[8192], pid[24];
  const char *mark = "-7777777777", *in = A(2);
  size_t at = 0, ml = strlen(mark);
  snprintf(pid, sizeof(pid), "%d", (int)ctx->host_pid);
  for (const char *m; (m = strstr(in, mark)) && at < sizeof(state);) {
    at += (size_t)snprintf(state + at, sizeof(state) - at, "%.*s%s", (int)(m - in), in, pid);
    in = m + ml;
  }
  if (at < sizeof(state)) at += (size_t)snprintf(state + at, sizeof(state) - at, "%s", in);
  if (at >= sizeof(state)) {
    errno = E2BIG;
    return fail(ctx, "seccomp: listener state");
  }
  int rc = send_fd(ctx->listener_fd, (int)fd, state);
  close((int)fd);
  close(ctx->listener_fd);
  ctx->listener_fd = -1;
  return rc < 0 ? fail(ctx, "seccomp: send the listener fd to the agent") : 0;
}

/* Everything from `first` up is closed, except what the executor itself still
 * needs, which is closed on exec. No host directory fd can reach the
 * container (CVE-2024-21626). */
static int op_close_fds(struct exec_ctx *ctx, const struct plan_op *op) {
  int first = (int)I64(0);
  DIR *d = opendir("/proc/self/fd");
  if (!d) return fail(ctx, "close fds: /proc/self/fd");
  int self = dirfd(d);
  int fds[1024], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 1024) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd < first || fd == self) continue;
    fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    int fd = fds[i];
    if (fd == ctx->sync_fd || fd == ctx->fifo_fd || fd == ctx->console_fd || fd == ctx->root_fd || fd == ctx->listener_fd)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    else
      close(fd);
  }
  return 0;
}

static int op_chdir(struct exec_ctx *ctx, const struct plan_op *op) {
  if (chdir(A(0)) < 0) return fail(ctx, "cwd %s", A(0));
  char cwd[PATH_MAX];
  /* A cwd reached through a leaked fd would lie outside our root. */
  if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/') {
    errno = EPERM;
    return fail(ctx, "cwd %s is outside the container", A(0));
  }
  return 0;
}

/* Looks `file` up like execvp, in the container's PATH. */
static int find_exec(const char *file, const char *pathenv, char *out, size_t outlen) {
  if (strchr(file, '/')) {
    snprintf(out, outlen, "%s", file);
    if (access(out, X_OK) < 0) return -1;
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) { /* a directory passes access(X_OK); execve refuses it */
      errno = EACCES;
      return -1;
    }
    return 0;
  }
  const char *p = pathenv && *pathenv ? pathenv : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int err = ENOENT;
  while (*p) {
    const char *end = strchrnul(p, ':');
    int n = snprintf(out, outlen, "%.*s/%s", (int)(end - p), p, file);
    if (n > 0 && (size_t)n < outlen && access(out, X_OK) == 0) {
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) return 0;
    } else if (errno == EACCES) {
      err = EACCES;
    }
    p = *end ? end + 1 : end;
  }
  errno = err;
  return -1;
}

static const char *env_path(const struct plan_op *op, unsigned envbase, unsigned envc) {
  for (unsigned i = 0; i < envc; i++)
    if (strncmp(op->argv[envbase + i], "PATH=", 5) == 0) return op->argv[envbase + i] + 5;
  return NULL;
}

/* runc's words: a command that is there but cannot be run is "permission denied" (126), one that is not there "not found" (127) */
static int exec_not_found(struct exec_ctx *ctx, const char *file) {
  if (errno == EACCES) {
    errno = 0;
    return fail(ctx, "exec: \"%s\": permission denied", file);
  }
  return fail(ctx, "exec: \"%s\": executable file not found in $PATH", file);
}

static int op_check_exec(struct exec_ctx *ctx, const struct plan_op *op) {
  char path[PATH_MAX];
  if (find_exec(A(0), op->argc > 1 ? A(1) : NULL, path, sizeof(path)) < 0) return exec_not_found(ctx, A(0));
  return 0;
}

static int op_exec(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  unsigned argc = (unsigned)U64(1);
  if (need_args(ctx, op, 3 + argc) < 0) return -1;
  unsigned envc = (unsigned)U64(2 + argc);
  if (need_args(ctx, op, 3 + argc + envc) < 0) return -1;
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) return fail(ctx, "exec");
  for (unsigned i = 0; i < argc; i++) argv[i] = (char *)A(2 + i);
  for (unsigned i = 0; i < envc; i++) envp[i] = (char *)A(3 + argc + i);
  char path[PATH_MAX];
  if (find_exec(A(0), env_path(op, 3 + argc, envc), path, sizeof(path)) < 0) return exec_not_found(ctx, A(0));
  execve(path, argv, envp);
  return fail(ctx, "exec %s", path);
}

/* --- dispatch ------------------------------------------------------------ */

int op_run(struct exec_ctx *ctx, const struct plan_op *op) {
  errno = 0;
  switch (op->code) {
  case OP_SETNS: {
    if (need_args(ctx, op, 2) < 0) return -1;
    int fd = open(A(0), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(ctx, "namespace %s", A(0));
    int r = setns(fd, (int)I64(1));
    int e = errno;
    close(fd);
    errno = e;
    return r < 0 ? fail(ctx, "join namespace %s", A(0)) : 0;
  }
  case OP_UNSHARE:
    return unshare((int)I64(0)) < 0 ? fail(ctx, "unshare 0x%llx", (unsigned long long)U64(0)) : 0;
  case OP_WRITE:
    if (need_args(ctx, op, 2) < 0) return -1;
    return write_file(A(0), A(1), op->argl[1]) < 0 ? fail(ctx, "write %s", A(0)) : 0;
  case OP_WRITE_CHILD: {
    if (need_args(ctx, op, 2) < 0) return -1;
    char p[128];
    snprintf(p, sizeof(p), "/proc/%d/%s", (int)ctx->child, A(0));
    return write_file(p, A(1), op->argl[1]) < 0 ? fail(ctx, "write %s of the container", A(0)) : 0;
  }
  case OP_DEVICE_FILTER:
    return op_device_filter(ctx, op);
  case OP_JOIN_CGROUP:
    if (need_args(ctx, op, 1) < 0) return -1;
    return write_file(A(0), "0", 1) < 0 ? fail(ctx, "join cgroup %s", A(0)) : 0;
  case OP_CLONE_INTO_CGROUP:
    if (need_args(ctx, op, 1) < 0) return -1;
    if (ctx->cgroup_fd >= 0) close(ctx->cgroup_fd);
    ctx->cgroup_fd = open(A(0), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    ctx->cgroup_dir = A(0);
    return ctx->cgroup_fd < 0 ? fail(ctx, "open cgroup %s", A(0)) : 0;
  case OP_SYNC:
    return op_sync(ctx, op, 1);
  case OP_NOTIFY:
    /* The parent may exit after this: the container must not die with it. */
    prctl(PR_SET_PDEATHSIG, 0, 0, 0, 0);
    return op_sync(ctx, op, 0);
  case OP_WAIT:
    return op_wait(ctx, op);
  case OP_ACK:
    return op_ack(ctx);
  case OP_REPORT_PID:
    report(ctx, "pid %d\n", (int)ctx->child);
    return 0;
  case OP_SUPERVISE:
    supervise(ctx);
    return 0;
  case OP_HOOK:
    return op_hook(ctx, op);
  case OP_MOUNT:
    return op_mount(ctx, op);
  case OP_MKNOD:
    return op_mknod(ctx, op);
  case OP_SYMLINK:
    return op_symlink(ctx, op);
  case OP_MKDIR:
    return op_mkdir(ctx, op);
  case OP_PIVOT_ROOT:
    return op_pivot_root(ctx);
  case OP_CHROOT:
    return op_chroot(ctx);
  case OP_MASK:
    return op_mask(ctx, op);
  case OP_READONLY:
    return op_readonly(ctx, op);
  case OP_OPEN_ROOT:
    ctx->root_fd = open(A(0), O_PATH | O_DIRECTORY | O_CLOEXEC);
    return ctx->root_fd < 0 ? fail(ctx, "rootfs %s", A(0)) : 0;
  case OP_LOOPBACK_UP: {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct ifreq ifr = {0};
    strcpy(ifr.ifr_name, "lo");
    int r = fd < 0 ? -1 : ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (r == 0) {
      ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
      r = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    if (fd >= 0) close(fd);
    errno = saved;
    return r < 0 ? fail(ctx, "bring up lo") : 0;
  }
  case OP_SETHOSTNAME:
    return sethostname(A(0), op->argl[0]) < 0 ? fail(ctx, "hostname %s", A(0)) : 0;
  case OP_SETDOMAINNAME:
    return setdomainname(A(0), op->argl[0]) < 0 ? fail(ctx, "domainname %s", A(0)) : 0;
  case OP_RLIMIT: {
    if (need_args(ctx, op, 4) < 0) return -1;
    struct rlimit rl = {.rlim_cur = (rlim_t)U64(1), .rlim_max = (rlim_t)U64(2)}, now;
    if (setrlimit((int)I64(0), &rl) == 0) return 0;
    if (errno == EPERM && getrlimit((int)I64(0), &now) == 0 && rl.rlim_max > now.rlim_max) {
      errno = EPERM;
      return fail(ctx, "%s: hard limit %s is above this runtime's own %llu, and raising it needs CAP_SYS_RESOURCE",
                  A(3), A(2), (unsigned long long)now.rlim_max);
    }
    return fail(ctx, "%s", A(3));
  }
  case OP_OPEN_FIFO:
    ctx->fifo_fd = open(A(0), O_PATH | O_CLOEXEC);
    return ctx->fifo_fd < 0 ? fail(ctx, "exec fifo %s", A(0)) : 0;
  case OP_WAIT_FIFO: {
    char p[64];
    fd_path(p, sizeof(p), ctx->fifo_fd);
    int fd = open(p, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return fail(ctx, "exec fifo: open");
    if (write(fd, "0", 1) != 1) return fail(ctx, "exec fifo: write");
    close(fd);
    close(ctx->fifo_fd);
    ctx->fifo_fd = -1;
    return 0;
  }
  case OP_CONNECT_CONSOLE:
    return op_connect_console(ctx, op);
  case OP_CONSOLE:
    return op_console(ctx, op->argc > 0 && I64(0) == 1, op->argc > 1 && I64(1) == 1);
  case OP_RECV_CONSOLE:
    return op_recv_console(ctx);
  case OP_CONNECT_SECCOMP_LISTENER: {
    int fd = connect_unix(ctx, A(0), "seccomp listenerPath");
    if (fd < 0) return -1;
    ctx->listener_fd = fd;
    return 0;
  }
  case OP_MKFIFO:
    if (need_args(ctx, op, 2) < 0) return -1;
    if (mkfifo(A(0), 0) < 0 || chmod(A(0), (mode_t)strtoul(A(1), NULL, 10)) < 0) return fail(ctx, "mkfifo %s", A(0));
    return 0;
  case OP_SETSID:
    return setsid() < 0 ? fail(ctx, "setsid") : 0;
  case OP_BECOME_ROOT:
    if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0) return fail(ctx, "become root in the user namespace");
    return 0;
  case OP_CHDIR:
    return op_chdir(ctx, op);
  case OP_USER:
    return op_user(ctx, op);
  case OP_UMASK:
    umask((mode_t)strtoul(A(0), NULL, 10));
    return 0;
  case OP_CAP_BOUNDING:
    return op_cap_bounding(ctx, op);
  case OP_CAPS:
    return op_caps(ctx, op);
  case OP_NO_NEW_PRIVS:
    return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ? fail(ctx, "no_new_privs") : 0;
  case OP_SECCOMP:
    return op_seccomp(ctx, op);
  case OP_CLOSE_FDS:
    return op_close_fds(ctx, op);
  case OP_CHECK_EXEC:
    return op_check_exec(ctx, op);
  case OP_EXEC:
    return op_exec(ctx, op);
  default:
    return fail(ctx, "plan: op %u is not valid here", op->code);
  }
}
