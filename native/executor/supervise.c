/* The executor as its container's parent, when the plan asks it to
 * supervise (berth-runtime run): it passes signals on, copies a console's
 * bytes both ways, and ends as the container did. */
#include "executor.h"
#include "../common/io.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

static void forward_and_exit(struct exec_ctx *ctx, int st) {
  if (WIFSIGNALED(st)) {
    report(ctx, "signal %d\n", WTERMSIG(st));
    exit(128 + WTERMSIG(st));
  }
  report(ctx, "exit %d\n", WEXITSTATUS(st));
  exit(WEXITSTATUS(st));
}

static struct termios saved_tty;
static int tty_raw;


/* One read from `from`, all of it to `to`; 0 when `from` is finished. */
static int pump(int from, int to) {
  char buf[16384];
  ssize_t n = read(from, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0; /* EOF, or EIO once every slave fd is closed */
  return write_all(to, buf, (size_t)n) == 0 || errno == EPIPE ? 1 : 0;
}

static void copy_winsize(int master) {
  struct winsize ws;
  if (ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
}

/* supervise() when the executor holds the container's pty (terminal without a
 * console socket): our stdin goes to the pty, the pty to our stdout. A
 * terminal on our stdin is made raw (the container's pty does the line
 * editing) and restored before we exit; its size follows SIGWINCH. */
static void supervise_console(struct exec_ctx *ctx, const sigset_t *all) {
  int master = ctx->console_fd;
  int sfd = signalfd(-1, all, SFD_CLOEXEC);
  if (isatty(0) && tcgetattr(0, &saved_tty) == 0) {
    struct termios raw = saved_tty;
    cfmakeraw(&raw);
    if (tcsetattr(0, TCSANOW, &raw) == 0) tty_raw = 1;
    copy_winsize(master);
  }
  int in_open = 1, out_open = 1, st = 0;
  for (;;) {
    struct pollfd p[3] = {{.fd = sfd, .events = POLLIN}, {.fd = out_open ? master : -1, .events = POLLIN}, {.fd = in_open ? 0 : -1, .events = POLLIN}};
    if (poll(p, 3, -1) < 0 && errno != EINTR) break;
    if (p[1].revents && !pump(master, 1)) out_open = 0;
    if (p[2].revents && !pump(0, master)) in_open = 0;
    if (!(p[0].revents & POLLIN)) continue;
    struct signalfd_siginfo si;
    if (read(sfd, &si, sizeof(si)) != sizeof(si)) continue;
    if (si.ssi_signo == SIGWINCH && tty_raw) copy_winsize(master);
    else if (si.ssi_signo != SIGCHLD) kill(ctx->child, (int)si.ssi_signo);
    pid_t r;
    int done = 0;
    while ((r = waitpid(-1, &st, WNOHANG)) > 0)
      if (r == ctx->child) done = 1;
    if (!done) continue;
    /* what the container wrote last is still in the pty */
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    while (out_open && pump(master, 1)) {
      struct pollfd q = {.fd = master, .events = POLLIN};
      if (poll(&q, 1, 0) <= 0) break;
    }
    break;
  }
  if (tty_raw) tcsetattr(0, TCSADRAIN, &saved_tty);
  forward_and_exit(ctx, st);
}

/* Stays the container init's parent: passes on every signal it gets and
 * exits with the init's status (128+N for a signal, as shells do). */
void supervise(struct exec_ctx *ctx) {
  sigset_t all;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, NULL);
  if (ctx->console_fd >= 0) supervise_console(ctx, &all);
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

/* Fork-like clone: no new stack, the flags choose the new namespaces. With a
 * v2 cgroup the child is born in it (clone3), which spares a cgroup.procs
 * write and the grace period it waits for; a kernel without clone3 or
 * CLONE_INTO_CGROUP (< 5.7) gets the write. Returns 0 in the child. */
