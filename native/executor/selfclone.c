/* CVE-2019-5736: a process in the container could open /proc/<pid>/exe of a
 * runtime process that joined it and, once the runtime exits, write through
 * it to the host's binary. Running from a sealed memfd copy makes that
 * handle point to an unwritable copy instead. */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#define SEALS (F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE)

int protect_self_exe(char **argv, char **envp) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & SEALS) == SEALS) {
    close(self);
    return 0; /* already running from the sealed copy */
  }
  struct stat st;
  if (fstat(self, &st) < 0) return -1;
  int mfd = memfd_create("berth-exec", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mfd < 0) return -1;
  off_t off = 0;
  while (off < st.st_size) {
    ssize_t n = sendfile(mfd, self, &off, (size_t)(st.st_size - off));
    if (n <= 0) return -1;
  }
  close(self);
  if (fcntl(mfd, F_ADD_SEALS, SEALS) < 0) return -1;
  fexecve(mfd, argv, envp);
  return -1;
}
