/* The executor's process ops: user and groups, capabilities, the device
 * filter, seccomp, closing inherited fds, and the exec of the container's
 * program (found in its PATH, as execvp finds it). */
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


/* --- credentials and limits --------------------------------------------- */

int op_user(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 3) < 0) return -1;
  uid_t uid = (uid_t)U64(0);
  gid_t gid = (gid_t)U64(1);
  unsigned n = (unsigned)U64(2);
  if (need_args(ctx, op, 3 + n) < 0) return -1;
  gid_t groups[256];
  if (n > 256) n = 256;
  for (unsigned i = 0; i < n; i++) groups[i] = (gid_t)U64(3 + i);
  /* setgroups is refused in a user namespace whose setgroups is "deny". */
  if (setgroups(n, groups) < 0 && !(errno == EPERM && n == 0)) return fail(ctx, "setgroups");
  if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return fail(ctx, "keep capabilities");
  if (setresgid(gid, gid, gid) < 0) return fail(ctx, "setgid %u", gid);
  if (setresuid(uid, uid, uid) < 0) return fail(ctx, "setuid %u", uid);
  if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return fail(ctx, "keep capabilities");
  return 0;
}

static int last_cap(void) {
  static int last = -1;
  if (last >= 0) return last;
  FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
  if (!f || fscanf(f, "%d", &last) != 1) last = CAP_LAST_CAP;
  if (f) fclose(f);
  return last;
}

/* cgroup v2 has no devices files: access is decided by an eBPF program
 * attached to the container's cgroup (built by src/runtime/cgroups/device-filter.ts). */
int op_device_filter(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  if (op->argl[1] == 0 || op->argl[1] % sizeof(struct bpf_insn) != 0) {
    errno = 0;
    return fail(ctx, "device filter: program of %u bytes", op->argl[1]);
  }
  static char log[8192];
  union bpf_attr load;
  memset(&load, 0, sizeof(load));
  load.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  load.insns = (uint64_t)(uintptr_t)A(1);
  load.insn_cnt = op->argl[1] / sizeof(struct bpf_insn);
  load.license = (uint64_t)(uintptr_t)"Apache";
  int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
  if (prog < 0 && (errno == EACCES || errno == EINVAL)) { /* refused: load again for the verifier's reason */
    load.log_buf = (uint64_t)(uintptr_t)log;
    load.log_size = sizeof(log);
    load.log_level = 1;
    prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &load, sizeof(load));
    if (prog < 0) return fail(ctx, "device filter: the kernel refused the program: %.300s", log);
  }
  if (prog < 0) return fail(ctx, "device filter: load");
  int dir = open(A(0), O_DIRECTORY | O_RDONLY | O_CLOEXEC);
  if (dir < 0) { close(prog); return fail(ctx, "device filter: open %s", A(0)); }
  union bpf_attr att;
  memset(&att, 0, sizeof(att));
  att.target_fd = (uint32_t)dir;
  att.attach_bpf_fd = (uint32_t)prog;
  att.attach_type = BPF_CGROUP_DEVICE;
  att.attach_flags = BPF_F_ALLOW_MULTI;
  int rc = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &att, sizeof(att));
  int e = errno;
  close(dir);
  close(prog); /* the attachment keeps the program */
  errno = e;
  return rc < 0 ? fail(ctx, "device filter: attach to %s", A(0)) : 0;
}

int op_cap_bounding(struct exec_ctx *ctx, const struct plan_op *op) {
  uint64_t keep = U64(0);
  int last = last_cap();
  for (int c = 0; c <= last && c < 64; c++) {
    if (keep & (1ULL << c)) continue;
    if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL) return fail(ctx, "drop capability %d", c);
  }
  return 0;
}

int op_caps(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 4) < 0) return -1;
  uint64_t eff = U64(0), prm = U64(1), inh = U64(2), amb = U64(3);
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
  };
  if (syscall(SYS_capset, &hdr, data) < 0) {
    int e = errno;
    for (int c = 0; e == EPERM && c < 64; c++)
      if ((prm & (1ULL << c)) && prctl(PR_CAPBSET_READ, c, 0, 0, 0) == 0) {
        errno = 0;
        return fail(ctx, "capabilities: cap %d is outside the bounding set (the config's, or this runtime's own), so it cannot be granted", c);
      }
    errno = e;
    return fail(ctx, "capset");
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    return fail(ctx, "clear ambient capabilities");
  /* An ambient capability needs to be permitted and inheritable too. runc's
   * own `spec` asks for ambient ones without inheritable, and runc only warns
   * (in its log) and goes on: so does this, without a log to warn in. */
  for (int c = 0; c < 64; c++)
    if (amb & (1ULL << c)) (void)prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0);
  return 0;
}

int op_seccomp(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  unsigned flags = (unsigned)U64(0);
  if (op->argl[1] % sizeof(struct sock_filter) != 0 || op->argl[1] == 0) {
    errno = EINVAL;
    return fail(ctx, "seccomp: program of %u bytes", op->argl[1]);
  }
  struct sock_fprog prog = {.len = (unsigned short)(op->argl[1] / sizeof(struct sock_filter)),
                            .filter = (struct sock_filter *)(void *)A(1)};
  long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
  if (fd < 0) return fail(ctx, "seccomp: load filter");
  if (!(flags & SECCOMP_FILTER_FLAG_NEW_LISTENER)) return 0;
  /* the agent gets the listener fd with the state; the pid goes where the plan marked it */
  if (ctx->listener_fd < 0 || op->argc < 3 || !A(2)[0]) return 0;
  char state[8192], pid[24];
  const char *mark = "-7777777777", *in = A(2);
  size_t at = 0, ml = strlen(mark);
  snprintf(pid, sizeof(pid), "%d", (int)ctx->host_pid);
  for (const char *m; (m = strstr(in, mark)) && at < sizeof(state);) {
    at += (size_t)snprintf(state + at, sizeof(state) - at, "%.*s%s", (int)(m - in), in, pid);
    in = m + ml;
  }
  if (at < sizeof(state)) at += (size_t)snprintf(state + at, sizeof(state) - at, "%s", in);
  if (at >= sizeof(state)) {
    errno = E2BIG;
    return fail(ctx, "seccomp: listener state");
  }
  int rc = send_fd(ctx->listener_fd, (int)fd, state);
  close((int)fd);
  close(ctx->listener_fd);
  ctx->listener_fd = -1;
  return rc < 0 ? fail(ctx, "seccomp: send the listener fd to the agent") : 0;
}

/* Everything from `first` up is closed, except what the executor itself still
 * needs, which is closed on exec. No host directory fd can reach the
 * container (CVE-2024-21626). */
int op_close_fds(struct exec_ctx *ctx, const struct plan_op *op) {
  int first = (int)I64(0);
  DIR *d = opendir("/proc/self/fd");
  if (!d) return fail(ctx, "close fds: /proc/self/fd");
  int self = dirfd(d);
  int fds[1024], n = 0;
  struct dirent *e;
  while ((e = readdir(d)) && n < 1024) {
    int fd = atoi(e->d_name);
    if (e->d_name[0] == '.' || fd < first || fd == self) continue;
    fds[n++] = fd;
  }
  closedir(d);
  for (int i = 0; i < n; i++) {
    int fd = fds[i];
    if (fd == ctx->sync_fd || fd == ctx->fifo_fd || fd == ctx->console_fd || fd == ctx->root_fd || fd == ctx->listener_fd)
      fcntl(fd, F_SETFD, FD_CLOEXEC);
    else
      close(fd);
  }
  return 0;
}


/* Looks `file` up like execvp, in the container's PATH. */
static int find_exec(const char *file, const char *pathenv, char *out, size_t outlen) {
  if (strchr(file, '/')) {
    snprintf(out, outlen, "%s", file);
    if (access(out, X_OK) < 0) return -1;
    struct stat st;
    if (stat(out, &st) == 0 && !S_ISREG(st.st_mode)) { /* a directory passes access(X_OK); execve refuses it */
      errno = EACCES;
      return -1;
    }
    return 0;
  }
  const char *p = pathenv && *pathenv ? pathenv : "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int err = ENOENT;
  while (*p) {
    const char *end = strchrnul(p, ':');
    int n = snprintf(out, outlen, "%.*s/%s", (int)(end - p), p, file);
    if (n > 0 && (size_t)n < outlen && access(out, X_OK) == 0) {
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) return 0;
    } else if (errno == EACCES) {
      err = EACCES;
    }
    p = *end ? end + 1 : end;
  }
  errno = err;
  return -1;
}

static const char *env_path(const struct plan_op *op, unsigned envbase, unsigned envc) {
  for (unsigned i = 0; i < envc; i++)
    if (strncmp(op->argv[envbase + i], "PATH=", 5) == 0) return op->argv[envbase + i] + 5;
  return NULL;
}

/* runc's words: a command that is there but cannot be run is "permission denied" (126), one that is not there "not found" (127) */
static int exec_not_found(struct exec_ctx *ctx, const char *file) {
  if (errno == EACCES) {
    errno = 0;
    return fail(ctx, "exec: \"%s\": permission denied", file);
  }
  return fail(ctx, "exec: \"%s\": executable file not found in $PATH", file);
}

int op_check_exec(struct exec_ctx *ctx, const struct plan_op *op) {
  char path[PATH_MAX];
  if (find_exec(A(0), op->argc > 1 ? A(1) : NULL, path, sizeof(path)) < 0) return exec_not_found(ctx, A(0));
  return 0;
}

int op_exec(struct exec_ctx *ctx, const struct plan_op *op) {
  if (need_args(ctx, op, 2) < 0) return -1;
  unsigned argc = (unsigned)U64(1);
  if (need_args(ctx, op, 3 + argc) < 0) return -1;
  unsigned envc = (unsigned)U64(2 + argc);
  if (need_args(ctx, op, 3 + argc + envc) < 0) return -1;
  char **argv = calloc(argc + 1, sizeof(char *));
  char **envp = calloc(envc + 1, sizeof(char *));
  if (!argv || !envp) return fail(ctx, "exec");
  for (unsigned i = 0; i < argc; i++) argv[i] = (char *)A(2 + i);
  for (unsigned i = 0; i < envc; i++) envp[i] = (char *)A(3 + argc + i);
  char path[PATH_MAX];
  if (find_exec(A(0), env_path(op, 3 + argc, envc), path, sizeof(path)) < 0) return exec_not_found(ctx, A(0));
  execve(path, argv, envp);
  return fail(ctx, "exec %s", path);
}

