/* berth-cli: the berth CLI's front, so that a command does not pay for
 * starting Node. It hands its command line, environment, working directory
 * and umask to a CLI worker that berthd keeps started (a Node process with
 * the berth CLI loaded: src/cli/worker.ts), which takes this process's
 * stdin, stdout and stderr (pidfd_getfd) and runs the command as the Node
 * CLI would (handover.c). It holds no CLI logic: whenever the hand-over
 * cannot happen (no berthd, another checkout's berthd, no worker ready, an
 * old kernel), it execs the Node CLI with the same arguments.
 *
 * usage: berth-cli DIST_DIR [berth arguments...]  (bin/berth calls it) */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "handover.h"

static char **args;   /* berth's arguments */
static int nargs;
static const char *dist;

static void node_cli(void) { handover_exec_node(dist, "berth", args, nargs); }

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
   * runtime, whose own front is berth-runtime-front */
  const char *off = getenv("BERTH_CLI_WORKER");
  if ((off && !strcmp(off, "0")) || getenv("NODE_OPTIONS") || getenv("NODE_EXTRA_CA_CERTS") || (verb && !strcmp(verb, "runtime"))) node_cli();
  int fd = handover_connect(path);
  if (fd < 0) node_cli();
  int status = handover(fd, "/berth/cli", "berth-cli", dist, args, nargs);
  if (status == HANDOVER_REFUSED) node_cli();
  return status;
}
