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
