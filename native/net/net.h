/* The network executor's one entry (net.c). */
#ifndef BERTH_NET_H
#define BERTH_NET_H
#include <stddef.h>

/* Runs the plan (its text is cut up in place); 0, or -1 with the failing op's words in err. */
int net_run_plan(char *plan, char *err, size_t errlen);

/* A non-blocking socket bound to ip:port (listening, for TCP) in the network
 * namespace at ns_path: its fd, or -1 with why in err. */
int net_socket_in(const char *ns_path, int tcp, const char *ip, int port, char *err, size_t errlen);
#endif
