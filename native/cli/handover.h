/* What the two C fronts share (berth-cli for the berth CLI, berth-runtime-front
 * for the runtime CLI): hand a command line to a Node process that already
 * runs, relay signals to it, start the programs it asks for as our children,
 * and end with its exit code. */
#ifndef BERTH_HANDOVER_H
#define BERTH_HANDOVER_H

/* handover() returns this when the command did not run: the caller runs the Node CLI */
#define HANDOVER_REFUSED (-1)

/* Connects to a unix socket whose server runs as our user; -1 (errno set) when it cannot. */
int handover_connect(const char *path);

/* Sends the command (args, environment, cwd, umask) to the server on `fd`
 * as "POST <route>", and serves it until its exit status comes. Returns
 * that status, or HANDOVER_REFUSED when the server did not take the
 * command. When the server ended without a status, ends the way it did. */
int handover(int fd, const char *route, const char *upgrade, const char *dist, char **args, int nargs);

/* Execs `node DIST/launcher.cjs CLI ARGS...` (the Node CLI, or with
 * "--serve PATH" a server); returns only when node cannot start: then exits 127. */
__attribute__((noreturn)) void handover_exec_node(const char *dist, const char *cli, char **args, int nargs);

#endif
