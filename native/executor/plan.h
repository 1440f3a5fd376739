/* berth-exec: the plan interpreter.
 *
 * The TypeScript side (src/runtime/plan.ts) turns an OCI config into a plan:
 * three lists of operations, one run before clone() in the executor, one run
 * by the executor after clone() (the parent) and one run by the container's
 * init (the child). This program carries them out in order and decides
 * nothing of its own. The opcode numbers are shared with src/runtime/plan.ts
 * (a test keeps them equal).
 *
 * Wire format (all integers little endian):
 *   "BRTHPLAN" u32 version u64 clone_flags
 *   3 x section: u32 op_count, op_count x op
 *   op: u16 code, u16 argc, argc x (u32 len, len bytes)
 */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include <stdint.h>
#include <stddef.h>

#define PLAN_MAGIC "BRTHPLAN"
#define PLAN_VERSION 1

enum op_code {
  OP_SETNS = 1,          /* path, nstype */
  OP_UNSHARE = 2,        /* flags */
  OP_WRITE = 3,          /* path, data */
  OP_WRITE_CHILD = 4,    /* name under /proc/<child>/, data */
  OP_JOIN_CGROUP = 5,    /* child: a v1 `tasks` path: write "0" (moves the caller only, without the global lock) */
  OP_SYNC = 6,           /* tag: child tells the parent and waits for ACK */
  OP_WAIT = 7,           /* tag: parent waits for the child's tag */
  OP_ACK = 8,            /* parent releases the child */
  OP_NOTIFY = 9,         /* tag: child tells the parent, does not wait */
  OP_REPORT_PID = 10,    /* parent writes "pid N" to the report fd */
  OP_SUPERVISE = 11,     /* parent forwards signals, waits, exits like the child */
  OP_HOOK = 12,          /* path, timeout_s, argc, argv..., envc, env..., state_prefix, state_suffix */
  OP_MOUNT = 20,         /* source, target, fstype, flags, data, create(0 none,1 dir,2 file), in_root */
  OP_MKNOD = 21,         /* path, type(c|b|p), major, minor, mode, uid, gid */
  OP_SYMLINK = 22,       /* target, linkpath (in root) */
  OP_MKDIR = 23,         /* path (in root), mode */
  OP_PIVOT_ROOT = 24,
  OP_CHROOT = 25,
  OP_MASK = 26,          /* path (after pivot) */
  OP_READONLY = 27,      /* path (after pivot) */
  OP_OPEN_ROOT = 28,     /* host path of the rootfs */
  OP_SETHOSTNAME = 30,
  OP_SETDOMAINNAME = 31,
  OP_RLIMIT = 33,        /* resource, soft, hard */
  OP_OPEN_FIFO = 34,     /* host path: O_PATH handle kept in the fifo slot */
  OP_WAIT_FIFO = 35,     /* block until `start` opens the fifo */
  OP_CONNECT_CONSOLE = 36, /* unix socket path: connected in the runtime's namespaces */
  OP_CONSOLE = 37,       /* bind_console, to_parent: make a pty, send its master over the console socket
                            (or to the supervising parent), make it stdio */
  OP_SETSID = 38,
  OP_BECOME_ROOT = 39,   /* setresuid/setresgid 0 after the user namespace maps are written */
  OP_CHDIR = 40,
  OP_USER = 41,          /* uid, gid, ngroups, groups... */
  OP_UMASK = 42,
  OP_CAP_BOUNDING = 43,  /* mask of caps to keep in the bounding set */
  OP_CAPS = 44,          /* effective, permitted, inheritable, ambient */
  OP_NO_NEW_PRIVS = 45,
  OP_SECCOMP = 46,       /* flags, bpf program (struct sock_filter[]), listener state JSON ("" for none) */
  OP_CLOSE_FDS = 47,     /* first fd that is not the container's (3 + preserved) */
  OP_EXEC = 48,          /* file, argc, argv..., envc, env... */
  OP_CHECK_EXEC = 49,    /* file, PATH: fail early if the program cannot be found */
  OP_MKFIFO = 50,        /* host path, mode */
  OP_DEVICE_FILTER = 51, /* cgroup v2 dir, eBPF program (struct bpf_insn[]): load and attach */
  OP_RECV_CONSOLE = 52,  /* parent: receive the pty master from the init; supervise proxies it */
  OP_CONNECT_SECCOMP_LISTENER = 53, /* unix socket path of the seccomp agent */
  OP_LOOPBACK_UP = 54,   /* bring up "lo" in the (new) network namespace */
  OP_CLONE_INTO_CGROUP = 55, /* cgroup v2 dir: the child is cloned into it (clone3) */
  OP_REPORT_NS = 56,     /* parent writes "ns N": the child's namespaces exist (its setup goes on) */
  OP_MAX
};

struct plan_op {
  uint16_t code;
  uint16_t argc;
  const char **argv;   /* each NUL terminated */
  uint32_t *argl;      /* byte length of each argument */
};

struct plan_section {
  uint32_t count;
  struct plan_op *ops;
};

struct plan {
  uint64_t clone_flags;
  struct plan_section pre, parent, child;
};

int plan_decode(const char *buf, size_t len, struct plan *out, char *err, size_t errlen);

#endif
