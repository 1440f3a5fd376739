/* CVE-2019-5736: a process in the container could open /proc/<pid>/exe of a
 * runtime process that joined it and, once the runtime exits, write through
 * it to the host's binary. Running from a sealed memfd copy makes that
 * handle point to an unwritable copy instead. */
#include "executor.h"
#include "../common/sealed.h"

#include <fcntl.h>
#include <unistd.h>

int protect_self_exe(char **argv, char **envp) {
  int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return -1;
  int seals = fcntl(self, F_GET_SEALS);
  if (seals >= 0 && (seals & BERTH_SEALS) == BERTH_SEALS) {
    close(self);
    return 0; /* already running from a sealed copy (its own, or berthd's) */
  }
  int mfd = sealed_copy(self);
  close(self);
  if (mfd < 0) return -1;
  fexecve(mfd, argv, envp);
  return -1;
}
