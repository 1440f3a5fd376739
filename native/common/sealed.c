#include "sealed.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

int sealed_copy(int src) {
  struct stat st;
  if (fstat(src, &st) < 0) return -1;
  int mfd = memfd_create("berth-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return -1;
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, src, &off, (size_t)(st.st_size - off));
    if (n <= 0) {
      int e = n == 0 ? EIO : errno;
      close(mfd);
      errno = e;
      return -1;
    }
  }
  if (fcntl(mfd, F_ADD_SEALS, BERTH_SEALS) < 0) {
    int e = errno;
    close(mfd);
    errno = e;
    return -1;
  }
  return mfd;
}
