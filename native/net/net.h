/* The network executor's one entry (net.c). */
#ifndef BERTH_NET_H
#define BERTH_NET_H
#include <stddef.h>

/* Runs the plan (its text is cut up in place); 0, or -1 with the failing op's words in err. */
int net_run_plan(char *plan, char *err, size_t errlen);

/* A non-blocking socket bound to ip:port (listening, for TCP) in the network
 * namespace at ns_path: its fd, or -1 with why in err. */
int net_socket_in(const char *ns_path, int tcp, const char *ip, int port, char *err, size_t errlen);

/* The fast path (bpf.c): a map, its updates, the program, its attachment; -1 with why in err. */
#include <stdint.h>
int net_bpf_map(const char *name, char *err, size_t errlen);
int net_bpf_set(int map, const void *key, int has_value, uint32_t value, char *err, size_t errlen);
int net_bpf_load(const char *name, const void *insns, size_t len, char *err, size_t errlen);
int net_bpf_attach(const char *dev, int prog, const char *name, char *err, size_t errlen);
#endif
