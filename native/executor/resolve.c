/* Paths inside the container's root. Every lookup goes through openat2 with
 * RESOLVE_IN_ROOT, so a symlink in a hostile rootfs ("/proc -> /",
 * "dev -> ../../..") resolves inside the root and never reaches the host. */
#include "executor.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int root_open(int rootfd, const char *path, int flags, mode_t mode) {
  struct open_how how = {0};
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & O_CREAT) ? mode : 0;
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  while (*path == '/') path++;
  if (*path == 0) path = ".";
  long fd = syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
  return (int)fd;
}

/* mkdir -p of `path` inside the root; returns an O_PATH fd of the directory.
 * Each prefix is resolved from the root again, so a symlink met on the way
 * ("var/run -> /run") is followed inside the root, as the container will see
 * it, and ".." never climbs above the root. */
int root_mkdir_p(int rootfd, const char *path, mode_t mode) {
  char prefix[4096];
  size_t plen = 0;
  int dirfd = root_open(rootfd, "/", O_PATH | O_DIRECTORY, 0);
  if (dirfd < 0) return -1;
  const char *p = path;
  while (*p) {
    while (*p == '/') p++;
    if (!*p) break;
    const char *end = strchrnul(p, '/');
    size_t clen = (size_t)(end - p);
    if (plen + clen + 2 >= sizeof(prefix) || clen > 255) {
      close(dirfd);
      errno = ENAMETOOLONG;
      return -1;
    }
    char comp[256];
    memcpy(comp, p, clen);
    comp[clen] = 0;
    prefix[plen++] = '/';
    memcpy(prefix + plen, p, clen);
    plen += clen;
    prefix[plen] = 0;
    p = end;
    if (strcmp(comp, ".") == 0) continue;
    int next = root_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
    if (next < 0 && errno == ENOENT && strcmp(comp, "..") != 0) {
      /* mkdirat does not follow a final symlink: a dangling one gives EEXIST
       * and the reopen below fails, instead of creating outside the root. */
      if (mkdirat(dirfd, comp, mode) == 0 || errno == EEXIST)
        next = root_open(rootfd, prefix, O_PATH | O_DIRECTORY, 0);
    }
    if (next < 0) {
      int e = errno;
      close(dirfd);
      errno = e;
      return -1;
    }
    close(dirfd);
    dirfd = next;
  }
  return dirfd;
}

/* Split "a/b/c" into the parent's fd (created if needed) and "c". */
int root_parent(int rootfd, const char *path, char *base, size_t baselen, mode_t dirmode) {
  char buf[4096];
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  if (n >= sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n);
  buf[n] = 0;
  char *slash = strrchr(buf, '/');
  const char *name = slash ? slash + 1 : buf;
  if (!*name || strcmp(name, "..") == 0 || strcmp(name, ".") == 0 || strlen(name) >= baselen) {
    errno = EINVAL;
    return -1;
  }
  strcpy(base, name);
  if (slash) *slash = 0; else buf[0] = 0;
  return root_mkdir_p(rootfd, buf, dirmode);
}

/* Make sure `path` exists inside the root as a directory or a file. */
int root_ensure(int rootfd, const char *path, int want_dir) {
  int fd = root_open(rootfd, path, O_PATH, 0);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return -1;
  if (want_dir) return root_mkdir_p(rootfd, path, 0755);
  char base[256];
  int parent = root_parent(rootfd, path, base, sizeof(base), 0755);
  if (parent < 0) return -1;
  struct open_how how = {.flags = O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, .mode = 0644,
                         .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS};
  int f = (int)syscall(SYS_openat2, parent, base, &how, sizeof(how));
  int e = errno;
  close(parent);
  if (f < 0) {
    errno = e;
    return -1;
  }
  close(f);
  return root_open(rootfd, path, O_PATH, 0);
}
