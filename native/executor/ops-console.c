/* The executor's console ops: the container's pty, made in the container
 * and sent to whoever supervises it, and unix socket connections. */
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


/* --- console ------------------------------------------------------------ */

int send_fd(int sock, int fd, const char *name) {
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

int op_recv_console(struct exec_ctx *ctx) {
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
int connect_unix(struct exec_ctx *ctx, const char *path, const char *what) {
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

int op_connect_console(struct exec_ctx *ctx, const struct plan_op *op) {
  int s = connect_unix(ctx, A(0), "console socket");
  if (s < 0) return -1;
  ctx->console_fd = s;
  return 0;
}

int op_console(struct exec_ctx *ctx, int bind_console, int to_parent) {
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

