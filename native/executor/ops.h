/* The executor's ops, by duty (ops.c dispatches them):
 *   ops.c          helpers, synchronisation with the other side, hooks, dispatch
 *   ops-fs.c       mounts, device nodes, links, pivot_root, masked and read-only paths, cwd
 *   ops-console.c  the container's terminal and unix sockets
 *   ops-process.c  credentials, capabilities, seccomp, fds, and the exec */
#ifndef BERTH_EXECUTOR_OPS_H
#define BERTH_EXECUTOR_OPS_H
#include "executor.h"
#include <stddef.h>

#define A(i) (op->argv[i])
#define U64(i) strtoull(op->argv[i], NULL, 10)
#define I64(i) strtoll(op->argv[i], NULL, 10)

/* Fills ctx->errbuf (with errno's words when set); -1. */
int fail(struct exec_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int need_args(struct exec_ctx *ctx, const struct plan_op *op, unsigned n);
int write_file(const char *path, const char *data, size_t len);
void fd_path(char *buf, size_t len, int fd);

int op_sync(struct exec_ctx *ctx, const struct plan_op *op, int wait_ack);
int op_wait(struct exec_ctx *ctx, const struct plan_op *op);
int op_ack(struct exec_ctx *ctx);
int op_hook(struct exec_ctx *ctx, const struct plan_op *op);
int op_mount(struct exec_ctx *ctx, const struct plan_op *op);
int op_mknod(struct exec_ctx *ctx, const struct plan_op *op);
int op_symlink(struct exec_ctx *ctx, const struct plan_op *op);
int op_mkdir(struct exec_ctx *ctx, const struct plan_op *op);
int op_pivot_root(struct exec_ctx *ctx);
int op_chroot(struct exec_ctx *ctx);
int op_mask(struct exec_ctx *ctx, const struct plan_op *op);
int op_readonly(struct exec_ctx *ctx, const struct plan_op *op);
int op_recv_console(struct exec_ctx *ctx);
int op_connect_console(struct exec_ctx *ctx, const struct plan_op *op);
int op_console(struct exec_ctx *ctx, int bind_console, int to_parent);
int op_user(struct exec_ctx *ctx, const struct plan_op *op);
int op_device_filter(struct exec_ctx *ctx, const struct plan_op *op);
int op_cap_bounding(struct exec_ctx *ctx, const struct plan_op *op);
int op_caps(struct exec_ctx *ctx, const struct plan_op *op);
int op_seccomp(struct exec_ctx *ctx, const struct plan_op *op);
int op_close_fds(struct exec_ctx *ctx, const struct plan_op *op);
int op_chdir(struct exec_ctx *ctx, const struct plan_op *op);
int op_check_exec(struct exec_ctx *ctx, const struct plan_op *op);
int op_exec(struct exec_ctx *ctx, const struct plan_op *op);
/* Sends `fd` on the unix socket `sock` with `name` as the message. */
int send_fd(int sock, int fd, const char *name);
int connect_unix(struct exec_ctx *ctx, const char *path, const char *what);
#endif
