/* berth-cli: the berth CLI's front, so that a command does not pay for
 * starting Node. It hands its command line, environment, working directory
 * and umask to a CLI worker that berthd keeps started (a Node process with
 * the berth CLI loaded: src/cli/worker.ts), which takes this process's
 * stdin, stdout and stderr (pidfd_getfd) and runs the command as the Node
 * CLI would. This front then only passes on the signals it gets and ends
 * with the worker's exit code. It holds no CLI logic: whenever the hand-over
 * cannot happen (no berthd, another checkout's berthd, no worker ready, an
 * old kernel), it execs the Node CLI with the same arguments.
 *
 * usage: berth-cli DIST_DIR [berth arguments...]  (bin/berth calls it) */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

extern char **environ;

static char **args;   /* berth's arguments */
static int nargs;
static const char *dist;

static void node_cli(void) {
  char launcher[PATH_MAX];
  snprintf(launcher, sizeof(launcher), "%s/launcher.cjs", dist);
  char **argv = calloc((size_t)nargs + 4, sizeof(char *));
  if (!argv) { perror("berth"); exit(1); }
  argv[0] = "node";
  argv[1] = launcher;
  argv[2] = "berth";
  for (int i = 0; i < nargs; i++) argv[3 + i] = args[i];
  execvp("node", argv);
  perror("berth: node");
  exit(127);
}

/* The daemon socket the Node CLI would use (src/cli/client.ts clientFor),
 * from the global options before the verb and the environment. Any berthd
 * of this checkout would do: the worker resolves the target itself. */
static int socket_path(char *out, size_t size, const char **verb) {
  const char *host = NULL, *root = NULL;
  *verb = NULL;
  for (int i = 0; i < nargs; i++) {
    const char *a = args[i];
    if (!strcmp(a, "-H") || !strcmp(a, "--host")) { if (++i < nargs) host = args[i]; continue; }
    if (!strcmp(a, "--data-root")) { if (++i < nargs) root = args[i]; continue; }
    if (!strncmp(a, "--host=", 7)) { host = a + 7; continue; }
    if (!strncmp(a, "-H", 2)) { host = a + 2; continue; }
    if (!strncmp(a, "--data-root=", 12)) { root = a + 12; continue; }
    if (a[0] != '-') *verb = a;
    break;
  }
  if (!host) host = getenv("BERTH_HOST");
  if (host && *host) {
    if (strncmp(host, "unix://", 7)) return -1;
    return snprintf(out, size, "%s", host + 7) < (int)size ? 0 : -1;
  }
  if (!root) root = getenv("BERTH_DATA_ROOT");
  if (!root || !strcmp(root, "/var/lib/berth") || !strcmp(root, "/var/lib/berth/")) return snprintf(out, size, "/run/berth/berth.sock"), 0;
  if (root[0] != '/') return -1;
  return snprintf(out, size, "%s/berthd.sock", root) < (int)size ? 0 : -1;
}

/* The payload: NUL-terminated fields, the pid, umask, cwd and argument count, then the arguments and the environment. */
static char *payload(size_t *len) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) return NULL;
  mode_t mask = umask(0);
  umask(mask);
  char head[64];
  size_t n = 0, hl = (size_t)snprintf(head, sizeof(head), "%d%c%o%c", (int)getpid(), 0, (unsigned)mask, 0);
  n = hl + strlen(cwd) + 1 + 12;
  for (int i = 0; i < nargs; i++) n += strlen(args[i]) + 1;
  for (char **e = environ; *e; e++) n += strlen(*e) + 1;
  char *p = malloc(n), *q = p;
  if (!p) return NULL;
  memcpy(q, head, hl), q += hl;
  q += sprintf(q, "%s", cwd) + 1;
  q += sprintf(q, "%d", nargs) + 1;
  for (int i = 0; i < nargs; i++) q = stpcpy(q, args[i]) + 1;
  for (char **e = environ; *e; e++) q = stpcpy(q, *e) + 1;
  *len = (size_t)(q - p);
  return p;
}

static int write_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w, n -= (size_t)w;
  }
  return 0;
}

/* Sends the request: the worker answers once it holds our stdio (101), or berthd refuses (503). */
static int send_request(int fd) {
  char real[PATH_MAX];
  if (!realpath(dist, real) || strpbrk(real, "\r\n")) return -1;
  size_t blen;
  char *body = payload(&blen);
  if (!body) return -1;
  char head[PATH_MAX + 256];
  int hl = snprintf(head, sizeof(head), "POST /berth/cli HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: berth-cli\r\nX-Berth-Dist: %s\r\nContent-Length: %zu\r\n\r\n", real, blen);
  int bad = write_all(fd, head, (size_t)hl) || write_all(fd, body, blen);
  free(body);
  return bad ? -1 : 0;
}

/* Signals a CLI acts on: passed on as one byte each. Faults and job-control
 * stops are the kernel's business. SIGTSTP stops the worker, then us, and
 * SIGCONT goes to the worker directly: stopped, it reads nothing. */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCONT, SIGTSTP, SIGWINCH};

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: berth-cli DIST_DIR [args...]\n"); return 2; }
  dist = argv[1];
  args = argv + 2;
  nargs = argc - 2;
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  const char *verb;
  if (socket_path(path, sizeof(path), &verb) < 0) node_cli();
  /* the Node CLI itself: when asked for; for a CLI with Node options or
   * extra CA certificates, which Node takes at its start; and for the
   * runtime, whose containers are children of the CLI */
  const char *off = getenv("BERTH_CLI_WORKER");
  if ((off && !strcmp(off, "0")) || getenv("NODE_OPTIONS") || getenv("NODE_EXTRA_CA_CERTS") || (verb && !strcmp(verb, "runtime"))) node_cli();
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  memcpy(sa.sun_path, path, sizeof(path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) node_cli();

  /* signals are read, and passed on, from here: one that comes before the
   * worker has taken over waits in the socket for it */
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) sigaddset(&set, forwarded[i]);
  sigprocmask(SIG_BLOCK, &set, NULL);
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  int upgraded = 0, last = 0, worker = -1;
  char in[2048];
  size_t len = 0;
  if (sfd < 0 || send_request(fd) < 0) goto refused;
  for (;;) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        int sig = (int)si.ssi_signo;
        int to = sig == SIGTSTP ? SIGSTOP : sig;
        if (sig != SIGCONT && sig != SIGWINCH && sig != SIGTSTP) last = sig;
        if ((to == SIGSTOP || to == SIGCONT) && worker >= 0) syscall(SYS_pidfd_send_signal, worker, to, NULL, 0);
        else { unsigned char b = (unsigned char)to; write_all(fd, (char *)&b, 1); }
        if (sig == SIGTSTP) raise(SIGSTOP);
      }
    }
    if (!(p[0].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    ssize_t r = recv(fd, in + len, sizeof(in) - 1 - len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    len += (size_t)r;
    in[len] = 0;
    if (!upgraded) { /* the answer's head: 101, or the Node CLI runs the command */
      char *end = strstr(in, "\r\n\r\n");
      if (!end) { if (len == sizeof(in) - 1) goto refused; continue; }
      if (strncmp(in, "HTTP/1.1 101 ", 13)) goto refused;
      upgraded = 1;
      /* the worker's pid, for the signals it must get while stopped */
      char *w = strstr(in, "\r\nX-Berth-Worker: ");
      if (w && w < end) worker = (int)syscall(SYS_pidfd_open, atoi(w + 18), 0);
      end += 4;
      len -= (size_t)(end - in);
      memmove(in, end, len + 1);
    }
    if (memchr(in, '\n', len)) { /* "exit N" */
      int code;
      if (sscanf(in, "exit %d", &code) == 1) return code & 0xff;
      break;
    }
    if (len == sizeof(in) - 1) break;
  }
  if (!upgraded) goto refused;
  /* no exit status: the worker was ended by a signal, most likely the one
   * we passed on; end the same way, as the Node CLI would have */
  if (last) {
    signal(last, SIG_DFL);
    sigset_t one;
    sigemptyset(&one);
    sigaddset(&one, last);
    sigprocmask(SIG_UNBLOCK, &one, NULL);
    raise(last);
  }
  fprintf(stderr, "berth: the CLI worker ended without an exit status\n");
  return 1;
refused:
  /* nothing ran: the Node CLI runs the command, after a signal that came
   * meanwhile has had its default effect on us */
  close(fd);
  if (sfd >= 0) close(sfd);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  if (last) raise(last);
  node_cli();
}
