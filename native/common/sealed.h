/* A sealed memfd copy of an executable, shared by the executor (which runs
 * itself from one) and fsx (berthd's one copy for every exec's shim). */
#ifndef BERTH_SEALED_H
#define BERTH_SEALED_H

#include <fcntl.h>

#define BERTH_SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

/* A close-on-exec memfd holding the whole file `src` and sealed against
 * every change; -1 with errno set on failure. `src` stays open. */
int sealed_copy(int src);

#endif
