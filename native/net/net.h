/* The network executor's one entry (net.c). */
#ifndef BERTH_NET_H
#define BERTH_NET_H
#include <stddef.h>

/* Runs the plan (its text is cut up in place); 0, or -1 with the failing op's words in err. */
int net_run_plan(char *plan, char *err, size_t errlen);
#endif
