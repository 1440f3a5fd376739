/* Writing whole buffers to a descriptor that may be non-blocking. */
#ifndef BERTH_COMMON_IO_H
#define BERTH_COMMON_IO_H
#include <stddef.h>

/* Writes all `n` bytes of `buf` to `fd`: again after EINTR, waiting in
 * poll() for room after EAGAIN. 0, or -1 with errno set. */
int write_all(int fd, const void *buf, size_t n);
#endif
