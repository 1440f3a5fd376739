/* berth-proxy: forwards TCP connections from host addresses to a container
 * with splice(2), for what the kernel's DNAT cannot serve (IPv6 loopback,
 * IPv6 to a container without IPv6) and for ports that must pass the
 * host's input chain. Bytes move socket -> pipe -> socket inside the
 * kernel; no copy passes through this process.
 *
 *   berth-proxy WATCH_PID LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT [LISTEN_ADDR ...]
 *
 * It decides nothing: src/network/proxy.ts says what to listen on and where
 * to. Once every listener is bound it says "ready" on stdout (or why a
 * listen failed, and exits 1), and serves until WATCH_PID (the container's
 * init) ends, or SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_LISTEN 64
#define CHUNK (1 << 16)

enum kind { LISTENER, CONN, WATCH, DEAD };

struct listener {
  enum kind kind;
  int fd;
  struct sockaddr_storage target;
  socklen_t target_len;
};

/* one direction: src -> pipe -> dst */
struct half {
  int src, dst, pipe_r, pipe_w;
  size_t queued; /* bytes in the pipe */
  int eof;       /* src ended and the pipe is drained: dst was shut for writing */
};

struct conn {
  enum kind kind;
  int client, server, connecting;
  struct half up, down;
  struct conn *next_dead;
};

static int ep;
/* closed in this round of events, freed after it: another event of the round may name them */
static struct conn *dead;

static int parse(const char *addr, const char *port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof(*ss));
  int p = atoi(port);
  if (p <= 0 || p > 65535) return -1;
  struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
  struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
  if (inet_pton(AF_INET6, addr, &s6->sin6_addr) == 1) {
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons((unsigned short)p);
    *len = sizeof(*s6);
  } else if (inet_pton(AF_INET, addr, &s4->sin_addr) == 1) {
    s4->sin_family = AF_INET;
    s4->sin_port = htons((unsigned short)p);
    *len = sizeof(*s4);
  } else {
    return -1;
  }
  return 0;
}

static void watch(int fd, void *ptr, unsigned events, int op) {
  struct epoll_event e = {.events = events, .data.ptr = ptr};
  epoll_ctl(ep, op, fd, &e);
}

static void close_conn(struct conn *c) {
  int fds[] = {c->client, c->server, c->up.pipe_r, c->up.pipe_w, c->down.pipe_r, c->down.pipe_w};
  for (size_t i = 0; i < sizeof(fds) / sizeof(fds[0]); i++)
    if (fds[i] >= 0) close(fds[i]); /* closing drops it from the epoll set */
  c->kind = DEAD;
  c->next_dead = dead;
  dead = c;
}

/* Moves what it can; 0 while the direction lives, -1 on an error that ends the connection. */
static int pump(struct half *h) {
  for (;;) {
    if (h->queued) {
      ssize_t n = splice(h->pipe_r, NULL, h->dst, NULL, h->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
      if (n < 0) return errno == EAGAIN ? 0 : -1;
      h->queued -= (size_t)n;
      continue;
    }
    if (h->eof) return 0;
    ssize_t n = splice(h->src, NULL, h->pipe_w, NULL, CHUNK, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n < 0) return errno == EAGAIN ? 0 : -1;
    if (n == 0) {
      h->eof = 1;
      shutdown(h->dst, SHUT_WR);
      return 0;
    }
    h->queued += (size_t)n;
  }
}

static int half_init(struct half *h, int src, int dst) {
  int p[2];
  h->src = src;
  h->dst = dst;
  h->queued = 0;
  h->eof = 0;
  h->pipe_r = h->pipe_w = -1;
  if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) return -1;
  h->pipe_r = p[0];
  h->pipe_w = p[1];
  return 0;
}

static void on_conn(struct conn *c) {
  if (c->kind == DEAD) return;
  if (c->connecting) {
    int err = 0;
    socklen_t l = sizeof(err);
    getsockopt(c->server, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err == EINPROGRESS || err == EALREADY) return;
    if (err) { /* the container refused: so does the host's port */
      close_conn(c);
      return;
    }
    c->connecting = 0;
  }
  if (pump(&c->up) < 0 || pump(&c->down) < 0 || (c->up.eof && c->down.eof && !c->up.queued && !c->down.queued)) close_conn(c);
}

static void on_accept(struct listener *l) {
  for (;;) {
    int cfd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return; /* EAGAIN, or out of fds: the rest wait in the backlog */
    struct conn *c = calloc(1, sizeof(*c));
    int sfd = socket(l->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c) c->client = c->server = c->up.pipe_r = c->up.pipe_w = c->down.pipe_r = c->down.pipe_w = -1;
    if (!c || sfd < 0 || half_init(&c->up, cfd, sfd) < 0 || half_init(&c->down, sfd, cfd) < 0 ||
        (connect(sfd, (struct sockaddr *)&l->target, l->target_len) < 0 && errno != EINPROGRESS)) {
      if (c) {
        c->client = cfd;
        c->server = sfd;
        close_conn(c);
      } else {
        close(cfd);
        if (sfd >= 0) close(sfd);
      }
      continue;
    }
    c->kind = CONN;
    c->client = cfd;
    c->server = sfd;
    c->connecting = 1;
    watch(cfd, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, EPOLL_CTL_ADD);
    watch(sfd, c, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, EPOLL_CTL_ADD);
  }
}

static int listen_on(struct listener *l, const char *addr, const char *port, const char *taddr, const char *tport) {
  struct sockaddr_storage ss;
  socklen_t len;
  if (parse(addr, port, &ss, &len) < 0 || parse(taddr, tport, &l->target, &l->target_len) < 0) {
    printf("not an address and port: %s %s -> %s %s\n", addr, port, taddr, tport);
    return -1;
  }
  int one = 1;
  l->kind = LISTENER;
  l->fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd >= 0) setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (l->fd >= 0 && ss.ss_family == AF_INET6) setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
  if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&ss, len) < 0 || listen(l->fd, 4096) < 0) {
    printf("listen tcp %s%s%s:%s: %s\n", ss.ss_family == AF_INET6 ? "[" : "", addr, ss.ss_family == AF_INET6 ? "]" : "", port,
           errno == EADDRINUSE ? "bind: address already in use" : strerror(errno));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 6 || (argc - 2) % 4 || (argc - 2) / 4 > MAX_LISTEN) {
    printf("usage: berth-proxy WATCH_PID LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT...\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) == 0) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  int pidfd = (int)syscall(SYS_pidfd_open, atoi(argv[1]), 0);
  if (pidfd < 0) {
    printf("watch %s: %s\n", argv[1], strerror(errno));
    return 1;
  }
  static struct listener ls[MAX_LISTEN];
  int n = (argc - 2) / 4;
  for (int i = 0; i < n; i++)
    if (listen_on(&ls[i], argv[2 + 4 * i], argv[3 + 4 * i], argv[4 + 4 * i], argv[5 + 4 * i]) < 0) return 1;
  printf("ready\n"); /* berthd waits for this line (or a listen's error and the exit) */
  fflush(stdout);
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  ep = epoll_create1(EPOLL_CLOEXEC);
  static enum kind watch_kind = WATCH;
  watch(pidfd, &watch_kind, EPOLLIN, EPOLL_CTL_ADD);
  for (int i = 0; i < n; i++) watch(ls[i].fd, &ls[i], EPOLLIN, EPOLL_CTL_ADD);
  struct epoll_event evs[64];
  for (;;) {
    int k = epoll_wait(ep, evs, 64, -1);
    for (int i = 0; i < k; i++) {
      enum kind *kind = evs[i].data.ptr;
      if (*kind == WATCH) return 0; /* the container ended */
      if (*kind == LISTENER) on_accept((struct listener *)kind);
      else on_conn((struct conn *)kind);
    }
    while (dead) {
      struct conn *c = dead;
      dead = c->next_dead;
      free(c);
    }
  }
}
