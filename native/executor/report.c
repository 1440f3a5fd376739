/* The executor's report to its caller: lines on the report fd ("pid N",
 * "exit N", "signal N", "error TEXT"). */
#include "executor.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

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

void report_error(struct exec_ctx *ctx) {
  for (char *p = ctx->errbuf; *p; p++)
    if (*p == '\n') *p = ' ';
  report(ctx, "error %s\n", ctx->errbuf);
}
