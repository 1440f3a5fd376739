/* The fast path between containers of one network: a BPF hash map (a
 * destination MAC -> the host end of its veth) and the tc program that
 * redirects by it (both made from what src/network/fastpath.ts gives),
 * attached at the ingress of each host end (tcx). */
#include "net.h"
#include <errno.h>
#include <linux/bpf.h>
#include <net/if.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

/* tcx (Linux 6.6): newer than the headers of some hosts; its ifindex takes target_fd's place */
#ifndef BPF_TCX_INGRESS
#define BPF_TCX_INGRESS 46
#endif

static int sys_bpf(int cmd, union bpf_attr *a) { return (int)syscall(SYS_bpf, cmd, a, sizeof(*a)); }

static int failed(char *err, size_t errlen, const char *what) {
  snprintf(err, errlen, "%s: %s", what, strerror(errno));
  return -1;
}

int net_bpf_map(const char *name, char *err, size_t errlen) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_type = BPF_MAP_TYPE_HASH;
  a.key_size = 8; /* the MAC, zero-padded */
  a.value_size = 4; /* an ifindex */
  a.max_entries = 4096;
  snprintf(a.map_name, sizeof(a.map_name), "%s", name);
  int fd = sys_bpf(BPF_MAP_CREATE, &a);
  return fd < 0 ? failed(err, errlen, "bpf map") : fd;
}

int net_bpf_set(int map, const void *key, int has_value, uint32_t value, char *err, size_t errlen) {
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.map_fd = (uint32_t)map;
  a.key = (uint64_t)(uintptr_t)key;
  if (has_value) a.value = (uint64_t)(uintptr_t)&value; /* a delete's must be 0 */
  if (sys_bpf(has_value ? BPF_MAP_UPDATE_ELEM : BPF_MAP_DELETE_ELEM, &a) == 0 || (!has_value && errno == ENOENT)) return 0;
  return failed(err, errlen, has_value ? "bpf map update" : "bpf map delete");
}

int net_bpf_load(const char *name, const void *insns, size_t len, char *err, size_t errlen) {
  static char log[4096];
  union bpf_attr a;
  memset(&a, 0, sizeof(a));
  a.prog_type = BPF_PROG_TYPE_SCHED_CLS;
  a.insns = (uint64_t)(uintptr_t)insns;
  a.insn_cnt = (uint32_t)(len / sizeof(struct bpf_insn));
  a.license = (uint64_t)(uintptr_t) "Apache-2.0";
  a.log_buf = (uint64_t)(uintptr_t)log;
  a.log_size = sizeof(log);
  a.log_level = 1;
  snprintf(a.prog_name, sizeof(a.prog_name), "%s", name);
  log[0] = 0;
  int fd = sys_bpf(BPF_PROG_LOAD, &a);
  if (fd >= 0) return fd;
  snprintf(err, errlen, "bpf program: %s: %.300s", strerror(errno), log);
  return -1;
}

/* Attaches prog at the ingress of dev, after taking off the programs of
 * the same name there (ours, from a daemon before); dev's ifindex. */
int net_bpf_attach(const char *dev, int prog, const char *name, char *err, size_t errlen) {
  unsigned ifindex = if_nametoindex(dev);
  if (!ifindex) return failed(err, errlen, dev);
  uint32_t ids[64];
  union bpf_attr q;
  memset(&q, 0, sizeof(q));
  q.query.target_fd = ifindex;
  q.query.attach_type = BPF_TCX_INGRESS;
  q.query.prog_ids = (uint64_t)(uintptr_t)ids;
  q.query.prog_cnt = 64;
  if (sys_bpf(BPF_PROG_QUERY, &q) < 0) q.query.prog_cnt = 0;
  for (uint32_t i = 0; i < q.query.prog_cnt && i < 64; i++) {
    union bpf_attr g;
    memset(&g, 0, sizeof(g));
    g.prog_id = ids[i];
    int old = sys_bpf(BPF_PROG_GET_FD_BY_ID, &g);
    if (old < 0) continue;
    struct bpf_prog_info info;
    memset(&info, 0, sizeof(info));
    union bpf_attr n;
    memset(&n, 0, sizeof(n));
    n.info.bpf_fd = (uint32_t)old;
    n.info.info_len = sizeof(info);
    n.info.info = (uint64_t)(uintptr_t)&info;
    if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &n) == 0 && strncmp(info.name, name, sizeof(info.name)) == 0) {
      union bpf_attr d;
      memset(&d, 0, sizeof(d));
      d.target_fd = ifindex;
      d.attach_bpf_fd = (uint32_t)old;
      d.attach_type = BPF_TCX_INGRESS;
      sys_bpf(BPF_PROG_DETACH, &d);
    }
    close(old);
  }
  union bpf_attr at;
  memset(&at, 0, sizeof(at));
  at.target_fd = ifindex;
  at.attach_bpf_fd = (uint32_t)prog;
  at.attach_type = BPF_TCX_INGRESS;
  if (sys_bpf(BPF_PROG_ATTACH, &at) < 0) return failed(err, errlen, "tcx attach");
  return (int)ifindex;
}
