/* berth-exec --plan-fd N [--report-fd M] [--protect-exe]
 *
 * Reads a plan (plan.h) from fd N and carries it out: the pre section here,
 * then clone() with the plan's namespace flags, then the parent section in
 * this process and the child section in the container's init. Results go to
 * fd M as lines: "pid N", "exit N", "signal N" or "error TEXT". */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

extern char **environ;

void report(struct exec_ctx *ctx, const char *fmt, ...) {
  char buf[1200];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof(buf), fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if ((size_t)n >= sizeof(buf)) n = sizeof(buf) - 1;
  int fd = ctx->report_fd >= 0 ? ctx->report_fd : 2;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(fd, buf + off, (size_t)(n - off));
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) break;
    off += w;
  }
}

static void report_error(struct exec_ctx *ctx) {
  for (char *p = ctx->errbuf; *p; p++)
    if (*p == '\n') *p = ' ';
  report(ctx, "error %s\n", ctx->errbuf);
}

static int read_all(int fd, char **out, size_t *outlen) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (!buf) return -1;
  for (;;) {
    if (len == cap) {
      char *nb = realloc(buf, cap *= 2);
      if (!nb) return -1;
      buf = nb;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    len += (size_t)n;
  }
  *out = buf;
  *outlen = len;
  return 0;
}

static void forward_and_exit(struct exec_ctx *ctx, int st) {
  if (WIFSIGNALED(st)) {
    report(ctx, "signal %d\n", WTERMSIG(st));
    exit(128 + WTERMSIG(st));
  }
  report(ctx, "exit %d\n", WEXITSTATUS(st));
  exit(WEXITSTATUS(st));
}

static struct termios saved_tty;
static int tty_raw;

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && errno == EAGAIN) {
      struct pollfd pf = {.fd = fd, .events = POLLOUT};
      poll(&pf, 1, -1);
      continue;
    }
    if (w <= 0) return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* One read from `from`, all of it to `to`; 0 when `from` is finished. */
static int pump(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0; /* EOF, or EIO once every slave fd is closed */
  return write_all(to, buf, (size_t)n) == 0 || errno == EPIPE ? 1 : 0;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

/* supervise() when the executor holds the container's pty (terminal without a
 * console socket): our stdin goes to the pty, the pty to our stdout. A
 * terminal on our stdin is made raw (the container's pty does the line
 * editing) and restored before we exit; its size follows SIGWINCH. */
static void supervise_console(struct exec_ctx *ctx, const sigset_t *all) {
  int master = ctx->console_fd;
  int sfd = signalfd(-1, all, SFD_CLOEXEC);
  if (isatty(0) && tcgetattr(0, &saved_tty) == 0) {
    struct termios raw = saved_tty;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0) tty_raw = 1;
    copy_winsize(master);
  }
  int in_open = 1, out_open = 1, st = 0;
  for (;;) {
    struct pollfd p[3] = {{.fd = sfd, .events = POLLIN}, {.fd = out_open ? master : -1, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) break;
    if (p[1].revents && !pump(master, 1)) out_open = 0;
    if (p[2].revents && !pump(0, master)) in_open = 0;
    if (!(p[0].revents & POLLIN)) continue;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof(si)) != sizeof(si)) continue;
    if (si.ssi_signo == SIGWINCH && tty_raw) copy_winsize(master);
    else if (si.ssi_signo != SIGCHLD) kill(ctx->child, (int)si.ssi_signo);
    pid_t r;
    int done = 0;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
      if (r == ctx->child) done = 1;
    if (!done) continue;
    /* what the container wrote last is still in the pty */
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    while (out_open && pump(master, 1)) {
      struct pollfd q = {.fd = master, .events = POLLIN};
      if (poll(&q, 1, 0) <= 0) break;
    }
    break;
  }
  if (tty_raw) tcsetattr(0, TCSADRAIN, &saved_tty);
  forward_and_exit(ctx, st);
}

/* Stays the container init's parent: passes on every signal it gets and
 * exits with the init's status (128+N for a signal, as shells do). */
void supervise(struct exec_ctx *ctx) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  if (ctx->console_fd >= 0) supervise_console(ctx, &all);
  for (;;) {
    int st;
    pid_t r;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
      if (r == ctx->child) forward_and_exit(ctx, st);
    siginfo_t info;
    int sig = sigwaitinfo(&all, &info);
    if (sig < 0 || sig == SIGCHLD) continue;
    kill(ctx->child, sig);
  }
}

/* Fork-like clone: no new stack, the flags choose the new namespaces. With a
 * v2 cgroup the child is born in it (clone3), which spares a cgroup.procs
 * write and the grace period it waits for; a kernel without clone3 or
 * CLONE_INTO_CGROUP (< 5.7) gets the write. Returns 0 in the child. */
static pid_t spawn_child(struct exec_ctx *ctx, uint64_t flags) {
  if (ctx->cgroup_fd >= 0) {
    struct clone_args args;
    memset(&args, 0, sizeof(args));
    args.flags = flags | CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)ctx->cgroup_fd;
    pid_t pid = (pid_t)syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0 || (errno != ENOSYS && errno != E2BIG)) return pid;
  }
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(flags | SIGCHLD), NULL, NULL, NULL, NULL);
  if (pid > 0 && ctx->cgroup_fd >= 0) {
    char procs[4200], num[32];
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", ctx->cgroup_dir);
    int n = snprintf(num, sizeof(num), "%d", (int)pid);
    int fd = open(procs, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, num, (size_t)n) != n) {
      int e = errno;
      if (fd >= 0) close(fd);
      kill(pid, SIGKILL);
      waitpid(pid, NULL, 0);
      errno = e;
      return -1;
    }
    close(fd);
  }
  return pid;
}

static int run_section(struct exec_ctx *ctx, const struct plan_section *s) {
  for (uint32_t i = 0; i < s->count; i++)
    if (op_run(ctx, &s->ops[i]) < 0) return -1;
  return 0;
}

int main(int argc, char **argv) {
  struct exec_ctx ctx = {.sync_fd = -1, .report_fd = -1, .root_fd = -1, .fifo_fd = -1, .console_fd = -1, .listener_fd = -1, .cgroup_fd = -1};
  int plan_fd = -1, protect = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--plan-fd") == 0 && i + 1 < argc) plan_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--report-fd") == 0 && i + 1 < argc) ctx.report_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--protect-exe") == 0) protect = 1;
    else {
      fprintf(stderr, "usage: berth-exec --plan-fd N [--report-fd M] [--protect-exe]\n");
      return 2;
    }
  }
  if (plan_fd < 0) {
    fprintf(stderr, "berth-exec: --plan-fd is required\n");
    return 2;
  }
  if (protect && protect_self_exe(argv, environ) < 0) {
    snprintf(ctx.errbuf, sizeof(ctx.errbuf), "protect executor binary: %s", strerror(errno));
    report_error(&ctx);
    return 1;
  }
  char *buf;
  size_t len;
  struct plan plan;
  if (read_all(plan_fd, &buf, &len) < 0) {
    snprintf(ctx.errbuf, sizeof(ctx.errbuf), "read plan: %s", strerror(errno));
    report_error(&ctx);
    return 1;
  }
  close(plan_fd);
  if (plan_decode(buf, len, &plan, ctx.errbuf, sizeof(ctx.errbuf)) < 0) {
    report_error(&ctx);
    return 1;
  }
  if (run_section(&ctx, &plan.pre) < 0) {
    report_error(&ctx);
    return 1;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
    snprintf(ctx.errbuf, sizeof(ctx.errbuf), "socketpair: %s", strerror(errno));
    report_error(&ctx);
    return 1;
  }
  pid_t pid = spawn_child(&ctx, plan.clone_flags);
  if (ctx.cgroup_fd >= 0) close(ctx.cgroup_fd);
  if (pid < 0) {
    snprintf(ctx.errbuf, sizeof(ctx.errbuf), "clone (flags 0x%llx): %s", (unsigned long long)plan.clone_flags,
             strerror(errno));
    report_error(&ctx);
    return 1;
  }
  if (pid == 0) {
    ctx.is_child = 1;
    close(sv[0]);
    ctx.sync_fd = sv[1];
    if (ctx.report_fd >= 0) close(ctx.report_fd);
    ctx.report_fd = -1;
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    if (run_section(&ctx, &plan.child) < 0) {
      char msg[1100];
      snprintf(msg, sizeof(msg), "E%s", ctx.errbuf);
      if (send(ctx.sync_fd, msg, strlen(msg), MSG_NOSIGNAL) < 0)
        fprintf(stderr, "berth-exec: %s\n", ctx.errbuf); /* nobody is listening any more */
      _exit(127);
    }
    _exit(0);
  }
  close(sv[1]);
  ctx.sync_fd = sv[0];
  ctx.child = pid;
  if (ctx.console_fd >= 0) { /* the console socket is the init's to use */
    close(ctx.console_fd);
    ctx.console_fd = -1;
  }
  if (ctx.listener_fd >= 0) {
    close(ctx.listener_fd);
    ctx.listener_fd = -1;
  }
  if (run_section(&ctx, &plan.parent) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    report_error(&ctx);
    return 1;
  }
  return 0;
}
