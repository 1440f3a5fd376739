#ifndef BERTH_EXECUTOR_H
#define BERTH_EXECUTOR_H

#include <stddef.h>
#include <sys/types.h>

#include "plan.h"

/* What the ops share while one side (parent or child) runs its section. */
struct exec_ctx {
  int is_child;
  pid_t child;        /* parent: the container init's pid */
  pid_t host_pid;     /* child: its own pid as the runtime sees it (for hooks) */
  int sync_fd;        /* socketpair end to the other side, -1 when closed */
  int report_fd;      /* parent: where "pid N" / "error ..." lines go */
  int root_fd;        /* child: O_PATH fd of the rootfs before pivot_root */
  int fifo_fd;        /* child: O_PATH fd of exec.fifo */
  int listener_fd;    /* child: connected socket of the seccomp agent, -1 if none */
  int console_fd;     /* child: connected console socket; parent: pty master to proxy; -1 if none */
  int cgroup_fd;      /* the v2 cgroup dir the child is cloned into, -1 if none */
  const char *cgroup_dir; /* its path, for the fallback without clone3 */
  char errbuf[1024];  /* the failure being reported */
};

/* Runs one op; on failure fills ctx->errbuf and returns -1. */
int op_run(struct exec_ctx *ctx, const struct plan_op *op);
/* OP_SUPERVISE: never returns. */
void supervise(struct exec_ctx *ctx);
void report(struct exec_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Reports ctx->errbuf as an "error" line (report.c). */
void report_error(struct exec_ctx *ctx);

int root_open(int rootfd, const char *path, int flags, mode_t mode);
int root_mkdir_p(int rootfd, const char *path, mode_t mode);
int root_parent(int rootfd, const char *path, char *base, size_t baselen, mode_t dirmode);
int root_ensure(int rootfd, const char *path, int want_dir);

/* Re-executes from a sealed memfd copy (CVE-2019-5736); returns on failure. */
int protect_self_exe(char **argv, char **envp);

#endif
