/* berth-runtime-front: the runtime CLI's front. Engines run the runtime
 * several times for each container (create, start, state, kill, delete), so
 * every verb would pay for starting Node. This front hands the command to a
 * runtime server (src/cli/runtime-server.ts: a Node process with the
 * runtime CLI loaded and warm) over handover.c, and starts, as its own
 * children, the executors the server asks for: a container's process must
 * descend from the runtime's caller. When no server listens, it starts one
 * for the commands to come and execs the Node CLI for this one; when the
 * server refuses (busy, another build, other namespaces), it execs the Node
 * CLI. It decides nothing about containers.
 *
 * usage: berth-runtime-front DIST_DIR [berth-runtime arguments...] */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "handover.h"

static char **args;
static int nargs;
static const char *dist;

static void node_cli(void) { handover_exec_node(dist, "berth-runtime", args, nargs); }

/* One server per checkout and mount namespace: its name holds a hash of the
 * checkout's path and the namespace's inode. */
static int socket_path(char *out, size_t size) {
  char real[PATH_MAX];
  struct stat ns;
  if (!realpath(dist, real) || stat("/proc/self/ns/mnt", &ns) < 0) return -1;
  uint64_t h = 1469598103934665603ULL;
  for (const char *p = real; *p; p++) h = (h ^ (unsigned char)*p) * 1099511628211ULL;
  const char *dir = getenv("BERTH_RUNTIME_SOCKET_DIR");
  if (!dir || !*dir) dir = "/run/berth-runtime";
  int n = snprintf(out, size, "%s/rt-%016llx-%llu.sock", dir, (unsigned long long)h, (unsigned long long)ns.st_ino);
  return n > 0 && n < (int)size ? 0 : -1;
}

/* Starts a server in the background, in a session of its own, with none of our files. */
static void start_server(const char *path) {
  pid_t pid = fork();
  if (pid < 0) return;
  if (pid > 0) { while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {} return; }
  if (setsid() < 0 || fork() != 0) _exit(0);
  int null = open("/dev/null", O_RDWR);
  for (int i = 0; i < 3; i++) dup2(null, i);
  syscall(SYS_close_range, 3, ~0U, 0);
  sigset_t all;
  sigemptyset(&all);
  sigprocmask(SIG_SETMASK, &all, NULL);
  char *serve[] = {"--serve", (char *)path};
  handover_exec_node(dist, "berth-runtime", serve, 2);
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: berth-runtime-front DIST_DIR [args...]\n"); return 2; }
  dist = argv[1];
  args = argv + 2;
  nargs = argc - 2;
  const char *off = getenv("BERTH_RUNTIME_SERVER");
  char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
  if ((off && !strcmp(off, "0")) || getenv("NODE_OPTIONS") || socket_path(path, sizeof(path)) < 0) node_cli();
  int fd = handover_connect(path);
  if (fd < 0) {
    if (errno == ENOENT || errno == ECONNREFUSED) start_server(path);
    node_cli();
  }
  int status = handover(fd, "/berth/runtime", "berth-runtime", dist, args, nargs);
  if (status == HANDOVER_REFUSED) node_cli();
  return status;
}
