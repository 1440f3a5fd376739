/* berth-exec --plan-fd N [--report-fd M] [--protect-exe]
 *
 * Reads a plan (plan.h) from fd N and carries it out: the pre section here,
 * then clone() with the plan's namespace flags, then the parent section in
 * this process and the child section in the container's init. Results go to
 * fd M as lines: "pid N", "exit N", "signal N" or "error TEXT". */
#include "executor.h"

#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
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

/* Stays the container init's parent: passes on every signal it gets and
 * exits with the init's status (128+N for a signal, as shells do). */
void supervise(struct exec_ctx *ctx) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
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

static int run_section(struct exec_ctx *ctx, const struct plan_section *s) {
  for (uint32_t i = 0; i < s->count; i++)
    if (op_run(ctx, &s->ops[i]) < 0) return -1;
  return 0;
}

int main(int argc, char **argv) {
  struct exec_ctx ctx = {.sync_fd = -1, .report_fd = -1, .root_fd = -1, .fifo_fd = -1, .console_fd = -1};
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
  /* fork-like clone: no new stack, the flags choose the new namespaces */
  pid_t pid = (pid_t)syscall(SYS_clone, (unsigned long)(plan.clone_flags | SIGCHLD), NULL, NULL, NULL, NULL);
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
  if (run_section(&ctx, &plan.parent) < 0) {
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    report_error(&ctx);
    return 1;
  }
  return 0;
}
