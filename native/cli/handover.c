/* The hand-over both fronts make (handover.h). The protocol, after an
 * HTTP/1.1 request whose body is the command (payload()):
 *   server -> front  "HTTP/1.1 101 ..." with X-Berth-Worker: PID, once it
 *                    holds our stdio (pidfd_getfd); anything else: refused
 *                    "spawn LEN\n" + LEN bytes: NUL-ended fields, the first
 *                    "T:S,T:S..." (fd S of the server becomes fd T of the
 *                    child), then the program's path and its argv
 *                    "exit N\n": the command's status
 *   front -> server  a signal we got, one byte (< 0x80)
 *                    0xFF "pid N\n" | "spawnerr ERRNO\n" | "reaped N STATUS\n"
 * The server decides what runs; we only start it here, because a
 * container's process must descend from the runtime's caller. */
#include "handover.h"

#include <errno.h>
#include <fcntl.h>
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
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define MAX_CHILDREN 16

static int send_all(int fd, const char *p, size_t n) {
  while (n) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    p += w, n -= (size_t)w;
  }
  return 0;
}

int handover_connect(const char *path) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(sa.sun_path)) return errno = ENAMETOOLONG, -1;
  strcpy(sa.sun_path, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  struct ucred cred;
  socklen_t cl = sizeof(cred);
  if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) { int e = errno; close(fd); return errno = e, -1; }
  /* a server of another user would get our environment, and start what it likes */
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) < 0 || cred.uid != geteuid()) { close(fd); return errno = EPERM, -1; }
  return fd;
}

/* The payload: NUL-terminated fields, the pid, umask, cwd and argument count, then the arguments and the environment. */
static char *payload(char **args, int nargs, size_t *len) {
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof(cwd))) return NULL;
  mode_t mask = umask(0);
  umask(mask);
  char head[64];
  size_t hl = (size_t)snprintf(head, sizeof(head), "%d%c%o%c", (int)getpid(), 0, (unsigned)mask, 0);
  size_t n = hl + strlen(cwd) + 1 + 12;
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

static int send_request(int fd, const char *route, const char *upgrade, const char *dist, char **args, int nargs) {
  char real[PATH_MAX];
  if (!realpath(dist, real) || strpbrk(real, "\r\n")) return -1;
  size_t blen;
  char *body = payload(args, nargs, &blen);
  if (!body) return -1;
  char head[PATH_MAX + 256];
  int hl = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: %s\r\nX-Berth-Dist: %s\r\nContent-Length: %zu\r\n\r\n", route, upgrade, real, blen);
  int bad = send_all(fd, head, (size_t)hl) || send_all(fd, body, blen);
  free(body);
  return bad ? -1 : 0;
}

static int children[MAX_CHILDREN], nchildren;

static void tell(int fd, const char *fmt, long a, long b) {
  char line[64];
  int n = snprintf(line, sizeof(line), fmt, a, b);
  send_all(fd, line, (size_t)n);
}

/* A "spawn" message: the server's fds (taken by pidfd_getfd) at the numbers it names, the rest of ours inherited. */
static void spawn(int fd, int server, char *msg, size_t len, const sigset_t *blocked) {
  char *fields[64];
  size_t nf = 0;
  for (char *p = msg; p < msg + len && nf < 63; p += strlen(p) + 1) fields[nf++] = p;
  fields[nf] = NULL;
  int target[16], source[16], nfd = 0, err = 0;
  for (char *m = nf ? fields[0] : ""; *m && nfd < 16;) {
    char *end;
    target[nfd] = (int)strtol(m, &end, 10);
    int theirs = *end == ':' ? (int)strtol(end + 1, &end, 10) : -1;
    source[nfd] = theirs < 0 ? -1 : (int)syscall(SYS_pidfd_getfd, server, theirs, 0);
    if (source[nfd++] < 0) { err = theirs < 0 ? EINVAL : errno; break; }
    m = *end == ',' ? end + 1 : end;
  }
  pid_t pid = -1;
  if (!err && (nf < 2 || nchildren == MAX_CHILDREN)) err = E2BIG;
  if (!err && (pid = fork()) < 0) err = errno;
  if (pid == 0) {
    /* above every target first, so that no dup2 overwrites a source yet to be placed */
    for (int i = 0; i < nfd; i++) source[i] = fcntl(source[i], F_DUPFD_CLOEXEC, 1024);
    for (int i = 0; i < nfd; i++) dup2(source[i], target[i]);
    sigprocmask(SIG_UNBLOCK, blocked, NULL);
    execv(fields[1], fields + 1);
    _exit(127);
  }
  for (int i = 0; i < nfd; i++) if (source[i] >= 0) close(source[i]);
  if (err) { tell(fd, "\xff" "spawnerr %ld\n", err, 0); return; }
  children[nchildren++] = pid;
  tell(fd, "\xff" "pid %ld\n", pid, 0);
}

/* Reaps the children that ended and tells the server; `wait`: all of them, blocking. */
static void reap(int fd, int wait) {
  for (int i = 0; i < nchildren;) {
    int status;
    pid_t r = waitpid(children[i], &status, wait ? 0 : WNOHANG);
    if (r == 0 || (r < 0 && errno == EINTR)) { i++; continue; }
    if (r > 0 && !wait) tell(fd, "\xff" "reaped %ld %ld\n", children[i], status);
    children[i] = children[--nchildren];
  }
}

/* Signals a CLI acts on: passed on as one byte each. Faults and job-control
 * stops are the kernel's business. SIGTSTP stops the worker, then us, and
 * SIGCONT goes to the worker directly: stopped, it reads nothing. */
static const int forwarded[] = {SIGHUP, SIGINT, SIGQUIT, SIGUSR1, SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCONT, SIGTSTP, SIGWINCH};

/* Passes a signal on; returns it when it is one the command may die of. */
static int relay_signal(int fd, int worker, int sig) {
  int to = sig == SIGTSTP ? SIGSTOP : sig;
  if ((to == SIGSTOP || to == SIGCONT) && worker >= 0) syscall(SYS_pidfd_send_signal, worker, to, NULL, 0);
  else { unsigned char b = (unsigned char)to; send_all(fd, (char *)&b, 1); }
  if (sig == SIGTSTP) raise(SIGSTOP);
  return sig != SIGCONT && sig != SIGWINCH && sig != SIGTSTP ? sig : 0;
}

/* What came after the 101: spawn requests and the exit status (-1: not yet, or cut short). */
static int messages(int fd, int worker, char *in, size_t *len, const sigset_t *blocked, int *status) {
  for (;;) {
    char *nl = memchr(in, '\n', *len);
    if (!nl) return *len == 4095 ? -1 : 0;
    size_t used = (size_t)(nl - in) + 1;
    long n;
    if (sscanf(in, "exit %ld", &n) == 1) return *status = (int)(n & 0xff), 1;
    if (sscanf(in, "spawn %ld", &n) != 1 || n < 0 || n > 4095 - (long)used) return -1;
    if (*len < used + (size_t)n) return 0;
    spawn(fd, worker, in + used, (size_t)n, blocked);
    used += (size_t)n;
    *len -= used;
    memmove(in, in + used, *len + 1);
  }
}

int handover(int fd, const char *route, const char *upgrade, const char *dist, char **args, int nargs) {
  sigset_t set;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++) sigaddset(&set, forwarded[i]);
  sigaddset(&set, SIGCHLD);
  sigprocmask(SIG_BLOCK, &set, NULL);
  /* signals are read, and passed on, from here: one that comes before the
   * worker has taken over waits in the socket for it */
  int sfd = signalfd(-1, &set, SFD_CLOEXEC);
  int upgraded = 0, last = 0, worker = -1, status = 0, done = 0;
  static char in[4096];
  size_t len = 0;
  if (sfd < 0 || send_request(fd, route, upgrade, dist, args, nargs) < 0) goto refused;
  while (!done) {
    struct pollfd p[2] = {{.fd = fd, .events = POLLIN}, {.fd = sfd, .events = POLLIN}};
    if (poll(p, 2, -1) < 0) { if (errno == EINTR) continue; break; }
    if (p[1].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) reap(fd, 0);
        else last = relay_signal(fd, worker, (int)si.ssi_signo) ?: last;
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
      /* the worker's pid: for the signals it must get while stopped, and the fds it hands us */
      char *w = strstr(in, "\r\nX-Berth-Worker: ");
      if (w && w < end) worker = (int)syscall(SYS_pidfd_open, atoi(w + 18), 0);
      end += 4;
      len -= (size_t)(end - in);
      memmove(in, end, len + 1);
    }
    int m = messages(fd, worker, in, &len, &set, &status);
    if (m < 0) break;
    done = m;
  }
  if (!upgraded) goto refused;
  reap(fd, 1); /* as the Node CLI does: it ends when its children have */
  if (done) return status;
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
  fprintf(stderr, "%s: the process serving the command ended without an exit status\n", upgrade);
  return 1;
refused:
  /* nothing ran: the Node CLI runs the command, after a signal that came
   * meanwhile has had its default effect on us */
  close(fd);
  if (sfd >= 0) close(sfd);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  if (last) raise(last);
  return HANDOVER_REFUSED;
}

void handover_exec_node(const char *dist, const char *cli, char **args, int nargs) {
  char launcher[PATH_MAX];
  snprintf(launcher, sizeof(launcher), "%s/launcher.cjs", dist);
  char **argv = calloc((size_t)nargs + 4, sizeof(char *));
  if (!argv) { perror(cli); exit(1); }
  argv[0] = "node";
  argv[1] = launcher;
  argv[2] = (char *)cli;
  for (int i = 0; i < nargs; i++) argv[3 + i] = args[i];
  /* certificates a caller held back so that a worker could take the
   * command (bin/berth, for pull): the Node CLI takes them at its start */
  const char *ca = getenv("BERTH_NODE_EXTRA_CA_CERTS");
  if (ca && *ca) setenv("NODE_EXTRA_CA_CERTS", ca, 1);
  unsetenv("BERTH_NODE_EXTRA_CA_CERTS");
  execvp("node", argv);
  fprintf(stderr, "%s: node: %s\n", cli, strerror(errno));
  exit(127);
}
