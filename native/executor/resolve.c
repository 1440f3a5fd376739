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
 * The deepest directory that exists is found first, from the whole path
 * backwards (usually the path itself: one lookup); each missing component is
 * then made in its parent and resolved from the root again, so a symlink met
 * on the way ("var/run -> /run") is followed inside the root, as the
 * container will see it, and ".." never climbs above the root. */
int root_mkdir_p(int rootfd, const char *path, mode_t mode) {
  char buf[4096];
  size_t n = strlen(path);
  if (n >= sizeof(buf)) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(buf, path, n + 1);
  while (n > 1 && buf[n - 1] == '/') buf[--n] = 0;
  size_t have = n; /* the length of the prefix tried */
  int fd;
  for (;;) {
    char keep = buf[have];
    buf[have] = 0;
    fd = root_open(rootfd, have ? buf : "/", O_PATH | O_DIRECTORY, 0);
    buf[have] = keep;
    if (fd >= 0) break;
    if (errno != ENOENT || have == 0) return -1;
    while (have > 0 && buf[have - 1] != '/') have--; /* back one component */
    while (have > 0 && buf[have - 1] == '/') have--;
  }
  for (size_t at = have; at < n;) {
    while (at < n && buf[at] == '/') at++;
    if (at >= n) break;
    size_t end = at;
    while (end < n && buf[end] != '/') end++;
    char comp[256];
    if (end - at > 255) {
      close(fd);
      errno = ENAMETOOLONG;
      return -1;
    }
    memcpy(comp, buf + at, end - at);
    comp[end - at] = 0;
    /* mkdirat does not follow a final symlink: a dangling one gives EEXIST
     * and the reopen below fails, instead of creating outside the root. */
    if (strcmp(comp, ".") != 0 && strcmp(comp, "..") != 0 && mkdirat(fd, comp, mode) < 0 && errno != EEXIST) {
      int e = errno;
      close(fd);
      errno = e;
      return -1;
    }
    char keep = buf[end];
    buf[end] = 0;
    int next = root_open(rootfd, buf, O_PATH | O_DIRECTORY, 0);
    int e = errno;
    buf[end] = keep;
    close(fd);
    if (next < 0) {
      errno = e;
      return -1;
    }
    fd = next;
    at = end;
  }
  return fd;
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
  if (want_dir) return root_mkdir_p(rootfd, path, 0755); /* which looks up the whole path first */
  int fd = root_open(rootfd, path, O_PATH, 0);
  if (fd >= 0) return fd;
  if (errno != ENOENT) return -1;
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
