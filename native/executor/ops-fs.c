/* The executor's filesystem ops: mounts, device nodes, links, directories,
 * pivot_root or chroot, masked and read-only paths, the working directory.
 * Paths in the container resolve under its root fd (resolve.c). */
#include "ops.h"

#include <dirent.h>
#include <errno.h>
#include <net/if.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>


/* --- filesystem --------------------------------------------------------- */

static unsigned long locked_flags(const char *path) {
  struct statvfs sv;
  unsigned long f = 0;
  if (statvfs(path, &sv) < 0) return 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

int op_mount(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 7) < 0) return -1;
  const char *src = A(0), *target = A(1), *fstype = A(2), *data = A(4);
  unsigned long flags = (unsigned long)U64(3);
  int create = (int)I64(5), in_root = (int)I64(6);
  char path[64];
  const char *where = target;
  int fd = -1;
  if (in_root) {
    if (ctx->root_fd < 0) {
      errno = 0;
      return fail(ctx, "mount %s: no root opened", target);
    }
    fd = create ? root_ensure(ctx->root_fd, target, create == 1) : root_open(ctx->root_fd, target, O_PATH, 0);
    if (fd < 0) return fail(ctx, "mount %s on %s: resolve target in rootfs", src, target);
    if (create == 1 || create == 2) {
      struct stat st;
      if (fstat(fd, &st) == 0 && (create == 1) != !!S_ISDIR(st.st_mode)) {
        close(fd);
        errno = create == 1 ? ENOTDIR : EISDIR;
        return fail(ctx, "mount %s on %s", src, target);
      }
    }
    fd_path(path, sizeof(path), fd);
    where = path;
  }
  int r = mount(*src ? src : NULL, where, *fstype ? fstype : NULL, flags, *data ? data : NULL);
  if (r < 0 && errno == EPERM && (flags & MS_REMOUNT)) {
    /* Flags locked by a less privileged owner must be kept on remount. */
    r = mount(NULL, where, NULL, flags | locked_flags(where), *data ? data : NULL);
  }
  int e = errno;
  if (fd >= 0) close(fd);
  errno = e;
  if (r < 0) return fail(ctx, "mount %s%s%s on %s (flags 0x%lx)", *fstype ? fstype : "", *fstype ? " " : "", src,
                         target, flags);
  return 0;
}

int op_mknod(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 7) < 0) return -1;
  const char *path = A(0);
  char type = A(1)[0];
  mode_t mode = (mode_t)strtoul(A(4), NULL, 10);
  dev_t dev = makedev((unsigned)U64(2), (unsigned)U64(3));
  mode |= type == 'b' ? S_IFBLK : type == 'p' ? S_IFIFO : S_IFCHR;
  char base[256];
  int parent = root_parent(ctx->root_fd, path, base, sizeof(base), 0755);
  if (parent < 0) return fail(ctx, "device %s: parent directory", path);
  unlinkat(parent, base, 0);
  int r = mknodat(parent, base, mode, dev);
  if (r == 0) {
    fchmodat(parent, base, mode & 07777, 0);
    r = fchownat(parent, base, (uid_t)U64(5), (gid_t)U64(6), AT_SYMLINK_NOFOLLOW);
    close(parent);
    return r < 0 ? fail(ctx, "device %s: chown", path) : 0;
  }
  if (errno != EPERM || type == 'p') {
    close(parent);
    return fail(ctx, "device %s: mknod", path);
  }
  /* In a user namespace mknod is refused: bind the host's node instead. */
  int f = openat(parent, base, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
  close(parent);
  if (f < 0) return fail(ctx, "device %s: create bind target", path);
  close(f);
  int fd = root_open(ctx->root_fd, path, O_PATH, 0);
  if (fd < 0) return fail(ctx, "device %s", path);
  char where[64];
  fd_path(where, sizeof(where), fd);
  char host[PATH_MAX];
  snprintf(host, sizeof(host), "/dev/%s", strncmp(path, "/dev/", 5) == 0 ? path + 5 : path);
  r = mount(host, where, NULL, MS_BIND, NULL);
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "device %s: bind %s", path, host) : 0;
}

int op_symlink(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  char base[256];
  int parent = root_parent(ctx->root_fd, A(1), base, sizeof(base), 0755);
  if (parent < 0) return fail(ctx, "symlink %s", A(1));
  int r = symlinkat(A(0), parent, base);
  int e = errno;
  close(parent);
  errno = e;
  return (r < 0 && errno != EEXIST) ? fail(ctx, "symlink %s -> %s", A(1), A(0)) : 0;
}

int op_mkdir(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  int fd = root_mkdir_p(ctx->root_fd, A(0), (mode_t)strtoul(A(1), NULL, 10));
  if (fd < 0) return fail(ctx, "mkdir %s", A(0));
  close(fd);
  return 0;
}

int op_pivot_root(struct exec_ctx *ctx) {
  if (fchdir(ctx->root_fd) < 0) return fail(ctx, "pivot_root: chdir to rootfs");
  if (syscall(SYS_pivot_root, ".", ".") < 0) return fail(ctx, "pivot_root");
  /* The old root now sits under the new one: detach it without letting the
   * unmount propagate back to the host. */
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0) return fail(ctx, "pivot_root: make old root slave");
  if (umount2(".", MNT_DETACH) < 0) return fail(ctx, "pivot_root: detach old root");
  if (chdir("/") < 0) return fail(ctx, "pivot_root: chdir /");
  close(ctx->root_fd);
  ctx->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return 0;
}

int op_chroot(struct exec_ctx *ctx) {
  if (fchdir(ctx->root_fd) < 0) return fail(ctx, "chroot: chdir to rootfs");
  if (mount(".", "/", NULL, MS_MOVE, NULL) < 0) return fail(ctx, "chroot: move rootfs to /");
  if (chroot(".") < 0) return fail(ctx, "chroot");
  if (chdir("/") < 0) return fail(ctx, "chroot: chdir /");
  close(ctx->root_fd);
  ctx->root_fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  return 0;
}

int op_mask(struct exec_ctx *ctx, const struct plan_op *op) {
  int fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return errno == ENOENT ? 0 : fail(ctx, "mask %s", A(0));
  struct stat st;
  char where[64];
  fd_path(where, sizeof(where), fd);
  int r = fstat(fd, &st);
  if (r == 0) {
    if (S_ISDIR(st.st_mode))
      r = mount("tmpfs", where, "tmpfs", MS_RDONLY, "size=0,mode=0755");
    else
      r = mount("/dev/null", where, NULL, MS_BIND, NULL);
  }
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "mask %s", A(0)) : 0;
}

int op_readonly(struct exec_ctx *ctx, const struct plan_op *op) {
  int fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return errno == ENOENT ? 0 : fail(ctx, "readonly %s", A(0));
  char where[64];
  fd_path(where, sizeof(where), fd);
  int r = mount(where, where, NULL, MS_BIND | MS_REC, NULL);
  close(fd);
  if (r < 0) return fail(ctx, "readonly %s: bind", A(0));
  /* Reopen: the old fd still names the covered directory, not the new mount. */
  fd = root_open(ctx->root_fd, A(0), O_PATH, 0);
  if (fd < 0) return fail(ctx, "readonly %s", A(0));
  fd_path(where, sizeof(where), fd);
  unsigned long fl = MS_BIND | MS_REMOUNT | MS_RDONLY;
  r = mount(NULL, where, NULL, fl, NULL);
  if (r < 0 && errno == EPERM) r = mount(NULL, where, NULL, fl | locked_flags(where), NULL);
  int e = errno;
  close(fd);
  errno = e;
  return r < 0 ? fail(ctx, "readonly %s: remount", A(0)) : 0;
}


int op_chdir(struct exec_ctx *ctx, const struct plan_op *op) {
  if (chdir(A(0)) < 0) return fail(ctx, "cwd %s", A(0));
  char cwd[PATH_MAX];
  /* A cwd reached through a leaked fd would lie outside our root. */
  if (!getcwd(cwd, sizeof(cwd)) || cwd[0] != '/') {
    errno = EPERM;
    return fail(ctx, "cwd %s is outside the container", A(0));
  }
  return 0;
}

