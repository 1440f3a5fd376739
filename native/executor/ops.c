/* One function per plan op. Each does exactly what its op says; the order,
 * the values and every decision about them come from the plan. */
#include "ops.h"

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


int fail(struct exec_ctx *ctx, const char *fmt, ...) {
  int e = errno;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(ctx->errbuf, sizeof(ctx->errbuf), fmt, ap);
  va_end(ap);
  if (n >= 0 && (size_t)n < sizeof(ctx->errbuf) && e)
    snprintf(ctx->errbuf + n, sizeof(ctx->errbuf) - (size_t)n, ": %s", strerror(e));
  return -1;
}

int need_args(struct exec_ctx *ctx, const struct plan_op *op, unsigned n) {
  if (op->argc >= n) return 0;
  errno = 0;
  return fail(ctx, "plan: op %u needs %u arguments, has %u", op->code, n, op->argc);
}

int write_file(const char *path, const char *data, size_t len) {
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

void fd_path(char *buf, size_t len, int fd) { snprintf(buf, len, "/proc/self/fd/%d", fd); }


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

int op_sync(struct exec_ctx *ctx, const struct plan_op *op, int wait_ack) {
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

int op_wait(struct exec_ctx *ctx, const struct plan_op *op) {
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

int op_ack(struct exec_ctx *ctx) {
  char pid[32];
  snprintf(pid, sizeof(pid), "%d", (int)ctx->child);
  return sync_send(ctx, 'A', pid) < 0 ? fail(ctx, "sync: release container init") : 0;
}

/* --- hooks -------------------------------------------------------------- */

int op_hook(struct exec_ctx *ctx, const struct plan_op *op) {
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
  case OP_REPORT_NS:
    report(ctx, "ns %d\n", (int)ctx->child);
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

