/* berth-shim: one per container process, started by berthd, outliving it.
 *
 *   berth-shim --dir DIR --exit FILE [--exit-nosync] [--listen-fd N] [--exec-fd N] [--tty] [--stdin]
 *              [--stdin-once] [--wait-attach] [--log FILE] [--log-max-size BYTES] [--log-max-file N]
 *              [--log-format json|local] [--log-compress] -- EXECUTOR ARGS...
 *
 * Runs EXECUTOR (berth-exec, reading its plan from fd 3 and reporting on fd
 * 4, both inherited from berthd) and becomes the container process's reaper
 * (PR_SET_CHILD_SUBREAPER), so the process stays its child when the
 * executor exits (--exec-fd: EXECUTOR is run from that file descriptor,
 * berthd's sealed copy of it). The executor's report is forwarded to fd 4 and read here
 * for the process's pid. The shim then holds the process's stdio: a pty
 * (received on DIR/console.sock) or pipes. Output goes to the json-file log
 * (rotated by size) and to attached clients. DIR/shim.sock takes one line
 * per connection (--listen-fd: berthd made and bound it, and hands it over
 * listening, so its first request never finds it missing):
 *   attach I O E [R]  stream in, out, err (0/1 each); frames as docker's
 *                  stdcopy unless R is 1 (R defaults to whether the process
 *                  has a tty: an exec's start may ask otherwise). When the line comes with a
 *                  file descriptor (SCM_RIGHTS: berthd hands over the API
 *                  client's connection), output is written to it directly
 *                  and this connection carries only the input. With two
 *                  (the client's own stdout and stderr, which berthd took
 *                  for the berth CLI), each stream is written to its own
 *                  as it is, without frames; when one fails, a stdcopy
 *                  systemerr frame (stream 3) on this connection says why
 *                  ("EPIPE" when the reader is gone) and the client is dropped.
 *   resize R C     set the pty's size
 *   wait           answered "exit N" when the process ends
 * When the process ends, "CODE SECONDS.NANOS" goes to the exit FILE (temp
 * file, fsync, rename; --exit-nosync: no fsync, for an exec's status that
 * no restart reads), waiters are told, and the shim exits. */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct shim_state S = {.listen_fd = -1, .exec_fd = -1, .log_fd = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .log_max_size = 20 << 20, .log_max_file = 5};

void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-shim: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}

static int listen_at(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path)) die("socket path too long: %s", path);
  strcpy(a.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) die("listen on %s: %s", path, strerror(errno));
  return fd;
}

static int recv_fd(int sock) {
  char data[256];
  int fd = -1, n;
  return recv_with_fds(sock, data, sizeof(data), &fd, 1, &n) < 0 || n != 1 ? -1 : fd;
}

static void write_exit(int code) {
  char tmp[4200], text[64];
  snprintf(tmp, sizeof(tmp), "%s.tmp", S.exit_path);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(text, sizeof(text), "%d %lld.%09ld\n", code, (long long)ts.tv_sec, ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, text, (size_t)n);
  if (!S.exit_nosync) fsync(fd);
  close(fd);
  rename(tmp, S.exit_path);
  if (S.exit_nosync) return;
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s", S.exit_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

/* The options before "--"; the index of the executor's argv. */
static int parse_args(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) S.dir = argv[++i];
    else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) S.log_path = argv[++i];
    else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) S.exit_path = argv[++i];
    else if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc) S.listen_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--exec-fd") == 0 && i + 1 < argc) S.exec_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--exit-nosync") == 0) S.exit_nosync = 1;
    else if (strcmp(argv[i], "--log-max-size") == 0 && i + 1 < argc) S.log_max_size = atoll(argv[++i]);
    else if (strcmp(argv[i], "--log-max-file") == 0 && i + 1 < argc) S.log_max_file = atoi(argv[++i]);
    else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc) S.log_local = strcmp(argv[++i], "local") == 0;
    else if (strcmp(argv[i], "--log-compress") == 0) S.log_compress = 1;
    else if (strcmp(argv[i], "--tty") == 0) S.tty = 1;
    else if (strcmp(argv[i], "--stdin") == 0) S.want_stdin = 1;
    else if (strcmp(argv[i], "--stdin-once") == 0) S.stdin_once = 1;
    else if (strcmp(argv[i], "--wait-attach") == 0) S.wait_attach = 1;
    else die("unknown argument %s", argv[i]);
  }
  if (!S.dir || !S.exit_path || i >= argc) die("usage: berth-shim --dir DIR --exit FILE [--tty] [--stdin] [--stdin-once] [--log FILE] [--log-max-size N] [--log-max-file N] [--log-format json|local] [--log-compress] -- EXECUTOR ARGS...");
  return i;
}

/* The process's stdio as the shim holds it: pipes, or (with a tty) a socket
 * the terminal's master will come on. */
struct stdio_pipes { int in[2], out[2], err[2], console_lfd; };

static void make_stdio(struct stdio_pipes *io) {
  *io = (struct stdio_pipes){{-1, -1}, {-1, -1}, {-1, -1}, -1};
  if (S.tty) {
    char path[4200];
    snprintf(path, sizeof(path), "%s/console.sock", S.dir);
    io->console_lfd = listen_at(path);
    return;
  }
  if (S.want_stdin && pipe2(io->in, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  if (pipe2(io->out, O_CLOEXEC) < 0 || pipe2(io->err, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  fcntl(io->out[0], F_SETPIPE_SZ, PIPE_BYTES); /* best effort: the limit is fs.pipe-max-size */
  fcntl(io->err[0], F_SETPIPE_SZ, PIPE_BYTES);
}

static void open_log(void) {
  if (!S.log_path) return;
  log_init();
  S.log_fd = open(S.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (S.log_fd < 0) die("open %s: %s", S.log_path, strerror(errno));
  struct stat st;
  if (fstat(S.log_fd, &st) == 0) S.log_size = st.st_size;
}

/* Runs the executor (argv) with the process's stdio and `report` as fd 4;
 * its pid. The shim keeps only its own ends. */
static pid_t start_executor(char **argv, const struct stdio_pipes *io, int report, const sigset_t *blocked) {
  pid_t exe = fork();
  if (exe < 0) die("fork: %s", strerror(errno));
  if (exe == 0) {
    sigprocmask(SIG_UNBLOCK, blocked, NULL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    dup2(S.tty ? devnull : io->in[0] >= 0 ? io->in[0] : devnull, 0);
    dup2(S.tty ? devnull : io->out[1], 1);
    dup2(S.tty ? devnull : io->err[1], 2);
    dup2(report, 4); /* the executor reports to us; fd 3 (the plan) is berthd's */
    if (S.exec_fd >= 0) { /* the executor is this (sealed) file; it closes as it runs */
      fcntl(S.exec_fd, F_SETFD, FD_CLOEXEC);
      fexecve(S.exec_fd, argv, environ);
      _exit(127);
    }
    execv(argv[0], argv);
    _exit(127);
  }
  close(3);
  if (S.exec_fd >= 0) close(S.exec_fd);
  close(report);
  if (!S.tty) {
    if (io->in[0] >= 0) close(io->in[0]);
    close(io->out[1]);
    close(io->err[1]);
    S.out_fd = io->out[0];
    S.err_fd = io->err[0];
  }
  return exe;
}

/* Forwards the executor's report to berthd (our stdout), taking the
 * process's pid from it; whether the executor started the process. */
static int relay_report(int report, pid_t exe) {
  FILE *f = fdopen(report, "r");
  char line[1300];
  int status = -1;
  while (fgets(line, sizeof(line), f)) {
    write_all(1, line, strlen(line));
    if (strncmp(line, "pid ", 4) == 0) S.init = (pid_t)atoi(line + 4);
  }
  fclose(f);
  /* the executor has finished (its report closed); reap it */
  while (waitpid(exe, &status, 0) < 0 && errno == EINTR) {}
  if (S.init > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0) return 1;
  if (S.init > 0) kill(S.init, SIGKILL);
  return 0;
}

/* With a tty: the terminal's master, sent by the executor on console.sock. */
static void receive_terminal(int console_lfd) {
  struct pollfd p = {.fd = console_lfd, .events = POLLIN};
  if (poll(&p, 1, 10000) <= 0) {
    kill(S.init, SIGKILL);
    die("the container did not send its terminal");
  }
  int c = accept4(console_lfd, NULL, NULL, SOCK_CLOEXEC);
  int master = c >= 0 ? recv_fd(c) : -1;
  if (master < 0) {
    kill(S.init, SIGKILL);
    die("receive the terminal: %s", strerror(errno));
  }
  close(c);
  close(console_lfd);
  char path[4200];
  snprintf(path, sizeof(path), "%s/console.sock", S.dir);
  unlink(path);
  S.in_fd = S.out_fd = master;
}

/* Serves output, clients and the compressor until the process ends; its wait status. */
static int serve(int sfd, int lfd) {
  int status = -1;
  while (status == -1) {
    struct pollfd p[5 + MAX_CLIENTS];
    int np = 0;
    p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = S.out_fd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = S.tty ? -1 : S.err_fd, .events = POLLIN};
    for (int k = 0; k < MAX_CLIENTS; k++)
      p[np++] = (struct pollfd){.fd = S.clients[k].kind == C_FREE ? -1 : S.clients[k].fd, .events = S.clients[k].eof ? 0 : POLLIN};
    p[np++] = (struct pollfd){.fd = log_compressor_fd(), .events = POLLIN};
    int ready = poll(p, (nfds_t)np, buffers_held ? 1000 : -1);
    if (ready < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (ready == 0) release_buffers();
    if (p[4 + MAX_CLIENTS].revents) log_compress_wait(); /* gzip has ended */
    if (p[2].revents && !pump_output(0, S.out_fd)) {
      if (!S.tty) close(S.out_fd); /* a pty gives EIO once every slave is closed; it stays open for stdin */
      S.out_fd = -1;
    }
    if (p[3].revents && !pump_output(1, S.err_fd)) {
      close(S.err_fd);
      S.err_fd = -1;
    }
    if (p[1].revents) accept_client(lfd);
    for (int k = 0; k < MAX_CLIENTS; k++)
      if (p[4 + k].revents && S.clients[k].kind != C_FREE) client_readable(&S.clients[k]);
    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {}
      int st;
      pid_t r;
      while ((r = waitpid(-1, &st, WNOHANG)) > 0)
        if (r == S.init) status = st;
    }
  }
  return status;
}

/* The process ended: what it wrote last (still in the pipes or the pty) is
 * logged, its exit recorded, waiters told and clients let go. */
static void finish(int status) {
  for (int s = 0; s < 2; s++) {
    int fd = s ? S.err_fd : S.out_fd;
    if (s && S.tty) break;
    for (int rounds = 0; fd >= 0 && rounds < 4096; rounds++) {
      struct pollfd q = {.fd = fd, .events = POLLIN};
      if (poll(&q, 1, 0) <= 0 || !pump_output(s, fd)) break;
    }
  }
  log_flush();
  int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  write_exit(code);
  char msg[32];
  int n = snprintf(msg, sizeof(msg), "exit %d\n", code);
  for (int k = 0; k < MAX_CLIENTS; k++) {
    struct client *c = &S.clients[k];
    if (c->kind == C_WAIT) write_all(c->fd, msg, (size_t)n);
    if (c->kind != C_FREE) drop(c);
  }
  char path[4200];
  snprintf(path, sizeof(path), "%s/shim.sock", S.dir);
  unlink(path);
  log_finish();
}

int main(int argc, char **argv) {
  int i = parse_args(argc, argv);
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  setsid();
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  /* the daemon may die: nothing here may depend on it */
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);

  char path[4200];
  snprintf(path, sizeof(path), "%s/shim.sock", S.dir);
  int lfd = S.listen_fd;
  if (lfd < 0) lfd = listen_at(path);
  else fcntl(lfd, F_SETFD, FD_CLOEXEC); /* the executor and the container must not inherit it */
  struct stdio_pipes io;
  make_stdio(&io);
  int rep[2];
  if (pipe2(rep, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  open_log();

  for (int k = 0; k < MAX_CLIENTS; k++) S.clients[k] = (struct client){.fd = -1, .ofd = -1, .dout = -1, .derr = -1};
  if (!S.tty) S.in_fd = io.in[1];
  /* --wait-attach: the process may not run before its client is connected (exec) */
  if (S.wait_attach) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) die("nobody attached");
    accept_client(lfd);
    while (S.clients[0].kind == C_HEADER) client_readable(&S.clients[0]);
  }
  pid_t exe = start_executor(argv + i, &io, rep[1], &mask);
  if (!relay_report(rep[0], exe)) return 1;
  if (S.tty) receive_terminal(io.console_lfd);
  /* berthd reads the report until EOF: close stdout now */
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0);
  dup2(devnull, 1);
  if (S.out_fd >= 0) fcntl(S.out_fd, F_SETFL, fcntl(S.out_fd, F_GETFL) | O_NONBLOCK);
  if (S.err_fd >= 0) fcntl(S.err_fd, F_SETFL, fcntl(S.err_fd, F_GETFL) | O_NONBLOCK);
  finish(serve(sfd, lfd));
  return 0;
}
