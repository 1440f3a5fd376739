/* berth_fsx applyOps: carries out a list of file operations that TypeScript
 * planned (src/image/layer/ops.ts writes the list), on the thread pool, so a
 * layer's thousands of creates, writes, chowns and chmods run beside the
 * event loop that parses the next part of the tar. Every name is one name in
 * a directory reached from the root fd with RESOLVE_BENEATH and
 * RESOLVE_NO_SYMLINKS: the plan names no symlink on the way, and a wrong plan
 * fails instead of leaving the root. The list is done in order; the first
 * failure stops it and is reported with its index. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "fsx.h"

enum { OP_MKDIR = 1, OP_FILE, OP_SYMLINK, OP_LINK, OP_MKNOD, OP_ATTR, OP_UTIMES, OP_UNLINK };
enum { F_OWNER = 1, F_MODE = 2, F_MTIME = 4, F_DIR = 8 };
#define HEAD 48 /* an op's fixed part; the layout is written down in ops.ts */

struct op {
  uint8_t code, flags;
  uint32_t mode, uid, gid, major, minor;
  double mtime_ms, size;
  const char *parent, *name, *extra, *extra2;
  const uint8_t *xattrs;
  uint16_t nxattr;
};

struct job {
  napi_async_work work;
  napi_deferred done;
  napi_ref keep; /* the ops and data buffers, alive until the job ends */
  int root;
  const uint8_t *ops;
  size_t ops_len;
  struct iovec *data;
  uint32_t ndata, di;
  size_t doff;
  int dir_fd;     /* the last parent opened, kept while ops stay in it */
  char dir[FSX_PATH_MAX];
  int32_t failed; /* index of the failed op, -1 */
  int err;
  const char *syscall;
};

static uint16_t u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static uint32_t u32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static double f64(const uint8_t *p) { double d; memcpy(&d, p, 8); return d; }

/* A string of n bytes at *p, copied with its NUL into buf (names in the list carry none). */
static const char *take(const uint8_t **p, uint16_t n, char *buf) {
  memcpy(buf, *p, n);
  buf[n] = 0;
  *p += n;
  return buf;
}

static int fail(struct job *j, const char *syscall) {
  j->err = errno;
  j->syscall = syscall;
  return -1;
}

/* The directory `path` under the root, as an O_PATH fd; no symlink on the way, nothing outside. */
static int open_beneath(struct job *j, const char *path) {
  struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, j->root, path, &how, sizeof(how));
  return fd < 0 ? fail(j, "openat2") : fd;
}

/* The directory `path` (relative to the root; "" is the root), kept open while ops stay in it. */
static int parent_fd(struct job *j, const char *path) {
  if (!path[0]) return j->root;
  if (j->dir_fd >= 0 && strcmp(j->dir, path) == 0) return j->dir_fd;
  if (j->dir_fd >= 0) close(j->dir_fd);
  j->dir_fd = open_beneath(j, path);
  if (j->dir_fd < 0) { j->dir[0] = 0; return -1; }
  snprintf(j->dir, sizeof(j->dir), "%s", path);
  return j->dir_fd;
}

static void forget_parent(struct job *j) {
  if (j->dir_fd >= 0) close(j->dir_fd);
  j->dir_fd = -1;
  j->dir[0] = 0;
}

static struct timespec stamp(double ms) {
  double s = ms / 1000;
  struct timespec t = {.tv_sec = (time_t)s, .tv_nsec = (long)((s - (double)(time_t)s) * 1e9)};
  if (t.tv_nsec < 0) { t.tv_sec--; t.tv_nsec += 1000000000; }
  return t;
}

/* Owner, xattrs (after chown, which clears security.capability), mode (after
 * chown, which clears setuid), mtime: on `fd` when it is a file's, else on dir/name. */
static int meta(struct job *j, const struct op *o, int fd, int dir, const char *name) {
  char proc[64 + FSX_PATH_MAX];
  if ((o->flags & F_OWNER) && (fd >= 0 ? fchown(fd, o->uid, o->gid) : fchownat(dir, name, o->uid, o->gid, AT_SYMLINK_NOFOLLOW)) < 0) return fail(j, "chown");
  const uint8_t *x = o->xattrs;
  if (o->nxattr && fd < 0) snprintf(proc, sizeof(proc), "/proc/self/fd/%d/%s", dir, name);
  for (uint16_t i = 0; i < o->nxattr; i++) {
    char key[256];
    uint16_t kn = u16(x);
    uint32_t vn = u32(x + 2);
    x += 6;
    if (kn >= sizeof(key)) { errno = ERANGE; return fail(j, "setxattr"); }
    take(&x, kn, key);
    if ((fd >= 0 ? fsetxattr(fd, key, x, vn, 0) : lsetxattr(proc, key, x, vn, 0)) < 0) return fail(j, "setxattr");
    x += vn;
  }
  if ((o->flags & F_MODE) && (fd >= 0 ? fchmod(fd, o->mode & 07777) : fchmodat(dir, name, o->mode & 07777, 0)) < 0) return fail(j, "chmod");
  if (o->flags & F_MTIME) {
    struct timespec t[2] = {stamp(o->mtime_ms), stamp(o->mtime_ms)};
    if ((fd >= 0 ? futimens(fd, t) : utimensat(dir, name, t, AT_SYMLINK_NOFOLLOW)) < 0) return fail(j, "utimes");
  }
  return 0;
}

/* A file's `size` bytes, taken in order from the data buffers. */
static int write_data(struct job *j, int fd, double size) {
  size_t left = (size_t)size;
  while (left) {
    if (j->di >= j->ndata) { errno = EINVAL; return fail(j, "write"); }
    struct iovec *b = &j->data[j->di];
    size_t n = b->iov_len - j->doff < left ? b->iov_len - j->doff : left;
    ssize_t w = write(fd, (char *)b->iov_base + j->doff, n);
    if (w < 0) { if (errno == EINTR) continue; return fail(j, "write"); }
    left -= (size_t)w;
    j->doff += (size_t)w;
    if (j->doff == b->iov_len) { j->di++; j->doff = 0; }
  }
  return 0;
}

static int file(struct job *j, const struct op *o, int dir, const char *name) {
  int fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return fail(j, "open");
  int r = write_data(j, fd, o->size) < 0 || meta(j, o, fd, dir, name) < 0 ? -1 : 0;
  close(fd);
  return r;
}

static int hardlink(struct job *j, const struct op *o, int dir, const char *name) {
  int tdir = o->extra[0] ? open_beneath(j, o->extra) : j->root;
  if (tdir < 0) return -1;
  int r = linkat(tdir, o->extra2, dir, name, 0) < 0 ? fail(j, "link") : 0;
  if (tdir != j->root) close(tdir);
  return r;
}

static int apply(struct job *j, const struct op *o) {
  int dir = parent_fd(j, o->parent);
  if (dir < 0) return -1;
  const char *name = o->name[0] ? o->name : ".";
  switch (o->code) {
  case OP_MKDIR: return mkdirat(dir, name, 0700) < 0 ? fail(j, "mkdir") : meta(j, o, -1, dir, name);
  case OP_FILE: return file(j, o, dir, name);
  case OP_SYMLINK: return symlinkat(o->extra, dir, name) < 0 ? fail(j, "symlink") : meta(j, o, -1, dir, name);
  case OP_LINK: return hardlink(j, o, dir, name);
  case OP_MKNOD:
    return mknodat(dir, name, o->mode, makedev(o->major, o->minor)) < 0 ? fail(j, "mknod") : meta(j, o, -1, dir, name);
  case OP_ATTR: case OP_UTIMES: return meta(j, o, -1, dir, name);
  case OP_UNLINK:
    if (unlinkat(dir, name, (o->flags & F_DIR) ? AT_REMOVEDIR : 0) < 0) return fail(j, "unlink");
    if (o->flags & F_DIR) forget_parent(j); /* the directory kept open may be the one gone */
    return 0;
  default: errno = EINVAL; return fail(j, "applyOps");
  }
}

static void run(napi_env env, void *data) {
  (void)env;
  struct job *j = data;
  const uint8_t *p = j->ops, *end = j->ops + j->ops_len;
  char parent[FSX_PATH_MAX], name[FSX_PATH_MAX], extra[FSX_PATH_MAX], extra2[FSX_PATH_MAX];
  for (int32_t i = 0; p + HEAD <= end; i++) {
    struct op o = {.code = p[0], .flags = p[1], .nxattr = u16(p + 10), .mode = u32(p + 12), .uid = u32(p + 16), .gid = u32(p + 20),
                   .major = u32(p + 24), .minor = u32(p + 28), .mtime_ms = f64(p + 32), .size = f64(p + 40)};
    uint16_t lens[4] = {u16(p + 2), u16(p + 4), u16(p + 6), u16(p + 8)};
    p += HEAD;
    if (lens[0] >= FSX_PATH_MAX || lens[1] >= FSX_PATH_MAX || lens[2] >= FSX_PATH_MAX || lens[3] >= FSX_PATH_MAX ||
        (size_t)(end - p) < (size_t)lens[0] + lens[1] + lens[2] + lens[3]) {
      errno = ENAMETOOLONG;
      fail(j, "applyOps");
      j->failed = i;
      break;
    }
    o.parent = take(&p, lens[0], parent);
    o.name = take(&p, lens[1], name);
    o.extra = take(&p, lens[2], extra);
    o.extra2 = take(&p, lens[3], extra2);
    o.xattrs = p;
    for (uint16_t x = 0; x < o.nxattr && p + 6 <= end; x++) p += 6 + u16(p) + u32(p + 2);
    if (p > end) { errno = EINVAL; fail(j, "applyOps"); j->failed = i; break; }
    if (apply(j, &o) < 0) { j->failed = i; break; }
  }
  forget_parent(j);
}

static void finish(napi_env env, napi_status status, void *data) {
  (void)status;
  struct job *j = data;
  napi_value v, err, s;
  if (j->failed < 0) {
    napi_get_undefined(env, &v);
    napi_resolve_deferred(env, j->done, v);
  } else {
    char msg[128];
    snprintf(msg, sizeof(msg), "%s: %s", j->syscall, strerror(j->err));
    napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &s);
    napi_create_error(env, NULL, s, &err);
    napi_create_int32(env, -j->err, &v);
    napi_set_named_property(env, err, "errno", v);
    napi_create_string_utf8(env, j->syscall, NAPI_AUTO_LENGTH, &v);
    napi_set_named_property(env, err, "syscall", v);
    napi_create_int32(env, j->failed, &v);
    napi_set_named_property(env, err, "opIndex", v);
    napi_reject_deferred(env, j->done, err);
  }
  napi_delete_reference(env, j->keep);
  napi_delete_async_work(env, j->work);
  free(j->data);
  free(j);
}

/* applyOps(rootFd, ops: Buffer, data: Buffer[]): a promise, rejected with the failed op's index, syscall and errno */
static napi_value js_apply_ops(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3], promise, name, keep;
  int32_t root;
  uint32_t n;
  void *ops;
  size_t len;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  if (argc < 3 || napi_get_value_int32(env, argv[0], &root) != napi_ok || napi_get_buffer_info(env, argv[1], &ops, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "applyOps(rootFd, ops: Buffer, data: Buffer[])");
    return NULL;
  }
  struct iovec *data = fsx_buffers(env, argv[2], &n, "applyOps(rootFd, ops: Buffer, data: Buffer[])");
  if (!data) return NULL;
  struct job *j = calloc(1, sizeof(*j));
  if (!j) { free(data); napi_throw_error(env, NULL, "applyOps: out of memory"); return NULL; }
  *j = (struct job){.root = root, .ops = ops, .ops_len = len, .data = data, .ndata = n, .dir_fd = -1, .failed = -1};
  CHECK(napi_create_array_with_length(env, 2, &keep));
  napi_set_element(env, keep, 0, argv[1]);
  napi_set_element(env, keep, 1, argv[2]);
  CHECK(napi_create_reference(env, keep, 1, &j->keep));
  CHECK(napi_create_promise(env, &j->done, &promise));
  napi_create_string_utf8(env, "berth_apply_ops", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_async_work(env, NULL, name, run, finish, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  return promise;
}

void fsx_register_ops(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "applyOps", NAPI_AUTO_LENGTH, js_apply_ops, NULL, &fn);
  napi_set_named_property(env, exports, "applyOps", fn);
}
