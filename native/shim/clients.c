/* berth-shim's clients on shim.sock: a request line each (attach, resize,
 * wait), the container's output sent to the attached ones (stdcopy frames,
 * raw with a tty, or as it is to a client's own stdout and stderr), and
 * their input to the container's stdin. */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>


/* read() that also takes up to `max` file descriptors sent along (SCM_RIGHTS)
 * into fds; *nfds says how many came. More than `max` are closed. */
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int max, int *nfds) {
  char cbuf[CMSG_SPACE(4 * sizeof(int))];
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
  ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
  *nfds = 0;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), all[4];
    memcpy(all, CMSG_DATA(c), (size_t)got * sizeof(int));
    for (int i = 0; i < got; i++) {
      if (i < max) fds[(*nfds)++] = all[i];
      else close(all[i]);
    }
  }
  return n;
}

/* Where the client's output goes: `fd` (a handed-over connection), or -1 for its own. */
static void set_output(struct client *c, int fd) {
  if (c->ofd >= 0) close(c->ofd);
  c->ofd = fd;
}

/* Where the client's streams go as they are: its own stdout and stderr (-1: nowhere). */
static void set_direct(struct client *c, int out, int err) {
  if (c->dout >= 0) close(c->dout);
  if (c->derr >= 0) close(c->derr);
  c->dout = out;
  c->derr = err;
}

void drop(struct client *c) {
  close(c->fd);
  set_output(c, -1);
  set_direct(c, -1, -1);
  c->kind = C_FREE;
  c->fd = -1;
}

static void close_stdin(void) {
  if (S.in_fd >= 0 && !S.tty) close(S.in_fd);
  if (!S.tty) S.in_fd = -1;
}

static void to_clients(int stream, const char *p, size_t n) {
  unsigned char h[8] = {(unsigned char)(stream + 1), 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &S.clients[i];
    if (c->kind != C_ATTACH || !(stream ? c->err : c->out)) continue;
    if (c->dout >= 0) {
      if (write_all(stream ? c->derr : c->dout, p, n) >= 0) continue;
      /* as the client's own write would have failed: it is told why, in band */
      const char *why = errno == EPIPE ? "EPIPE" : strerror(errno);
      size_t wl = strlen(why);
      unsigned char eh[8] = {3, 0, 0, 0, 0, 0, 0, (unsigned char)wl};
      if (write_all(c->fd, eh, 8) == 0) write_all(c->fd, why, wl);
      if (c->in && S.stdin_once) close_stdin();
      drop(c);
      continue;
    }
    int fd = c->ofd >= 0 ? c->ofd : c->fd;
    if ((c->raw || write_all(fd, h, 8) >= 0) && write_all(fd, p, n) >= 0) continue;
    if (c->ofd >= 0) { /* the client left (or detached): berthd still holds the rest and says when it ends */
      set_output(c, -1);
      c->out = c->err = 0;
      continue;
    }
    if (c->in && S.stdin_once) close_stdin();
    drop(c);
  }
}

static char read_buf[PIPE_BYTES] __attribute__((aligned(4096))); /* page-aligned, for madvise */
int buffers_held; /* read_buf or the log's buffers hold pages */

/* After a quiet second the output buffers go back to the system: a process
 * that printed a burst once does not keep megabytes for the rest of its life. */
void release_buffers(void) {
  log_drain();
  log_release();
  madvise(read_buf, sizeof(read_buf), MADV_DONTNEED);
  buffers_held = 0;
}

/* One read of the process's stdout (0) or stderr (1); 0 when it is finished. */
int pump_output(int stream, int fd) {
  ssize_t n = read(fd, read_buf, sizeof(read_buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0;
  buffers_held = 1;
  log_output(stream, (unsigned char *)read_buf, (size_t)n);
  to_clients(stream, read_buf, (size_t)n);
  return 1;
}

static void header(struct client *c) {
  char *nl = memchr(c->hdr, '\n', c->hlen);
  if (!nl) {
    if (c->hlen == sizeof(c->hdr)) drop(c);
    return;
  }
  *nl = 0;
  size_t rest = c->hlen - (size_t)(nl + 1 - c->hdr);
  int a, b, d, raw = S.tty;
  unsigned short rows, cols;
  if (sscanf(c->hdr, "attach %d %d %d %d", &a, &b, &d, &raw) >= 3) {
    c->kind = C_ATTACH;
    c->raw = raw;
    c->in = a && (S.in_fd >= 0 || S.tty); /* a tty's master comes later */
    c->out = b;
    c->err = d;
    write_all(c->fd, "ok\n", 3);
    if (c->in && rest) write_all(S.in_fd, nl + 1, rest);
    return;
  }
  set_output(c, -1); /* only an attach hands over a connection or output */
  set_direct(c, -1, -1);
  if (sscanf(c->hdr, "resize %hu %hu", &rows, &cols) == 2) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    int r = S.tty ? ioctl(S.in_fd, TIOCSWINSZ, &ws) : -1;
    write_all(c->fd, r == 0 ? "ok\n" : "error no tty\n", r == 0 ? 3 : 13);
    drop(c);
  } else if (strcmp(c->hdr, "wait") == 0) {
    c->kind = C_WAIT;
  } else {
    write_all(c->fd, "error unknown request\n", 22);
    drop(c);
  }
}

void client_readable(struct client *c) {
  if (c->eof) { /* only a hangup wakes us for these */
    drop(c);
    return;
  }
  if (c->kind == C_HEADER) {
    int fds[2], nfds;
    ssize_t n = recv_with_fds(c->fd, c->hdr + c->hlen, sizeof(c->hdr) - c->hlen, fds, 2, &nfds);
    if (nfds == 1) {
      set_output(c, fds[0]);
      int sz = PIPE_BYTES; /* a frame in one piece: fewer, larger reads for the client */
      setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    } else if (nfds == 2) {
      set_output(c, -1);
      set_direct(c, fds[0], fds[1]);
      /* the reader's pipe as large as ours (not a pipe: nothing happens), so a
       * read of ours goes out in one write, not sixteen */
      fcntl(c->dout, F_SETPIPE_SZ, PIPE_BYTES);
      fcntl(c->derr, F_SETPIPE_SZ, PIPE_BYTES);
    }
    if (n <= 0) {
      drop(c);
      return;
    }
    c->hlen += (size_t)n;
    header(c);
    return;
  }
  char buf[65536];
  ssize_t n = read(c->fd, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0) {
    if (c->kind == C_ATTACH && c->in && S.in_fd >= 0 && write_all(S.in_fd, buf, (size_t)n) < 0) close_stdin();
    return;
  }
  /* the client is gone (or closed its writing side) */
  if (c->kind == C_ATTACH && c->in) {
    c->in = 0;
    if (S.stdin_once) close_stdin();
    if (c->out || c->err) {
      c->eof = 1; /* keep sending output until it hangs up */
      return;
    }
  }
  drop(c);
}

void accept_client(int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (S.clients[i].kind == C_FREE) {
      S.clients[i] = (struct client){.fd = fd, .ofd = -1, .dout = -1, .derr = -1, .kind = C_HEADER};
      return;
    }
  close(fd);
}

