/* The network executor: carries out a plan over rtnetlink, one op per line,
 * in order, and stops at the first that fails. It decides nothing:
 * src/network/links.ts writes the plan (names, addresses, routes). It runs
 * inside berthd (napi.c): a process per change cost more than the change.
 * A network namespace is per thread, so "netns" moves only the calling
 * thread, and the thread is back in its own before the call returns.
 *
 *   netns PATH                 later ops run in this network namespace ("host": the one we started in)
 *   bridge NAME MTU            a bridge (MTU 0: the kernel's)
 *   veth NAME PEER MTU NSPATH  a veth pair, its PEER end made in the namespace at NSPATH
 *   master NAME BRIDGE         enslave NAME to BRIDGE
 *   mac NAME MAC               set a link's address
 *   rename NAME NEW            rename a (down) link
 *   up NAME
 *   addr NAME CIDR             add an address (v4 or v6)
 *   route DEST/LEN GATEWAY     a route (0.0.0.0/0 or ::/0 for the default)
 *   del NAME                   delete a link; one that is gone already is no error
 *   sysctl PATH VALUE          write /proc/sys/PATH in the current namespace
 *
 * A failure is "line N: OP: reason", and nothing after that op is done. */
#include "../common/io.h"
#include "net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

unsigned int if_nametoindex(const char *ifname);

/* One plan at a time (berthd's main thread); a failure unwinds to net_run_plan. */
static int lineno;
static char op_name[32];
static char *err_out;
static size_t err_len;
static jmp_buf failed;
static int pending_fd = -1; /* a namespace fd an op holds when it fails */

static __attribute__((noreturn)) void die(const char *fmt, ...) {
  int n = snprintf(err_out, err_len, "line %d: %s: ", lineno, op_name);
  va_list ap;
  va_start(ap, fmt);
  if (n >= 0 && (size_t)n < err_len) vsnprintf(err_out + n, err_len - (size_t)n, fmt, ap);
  va_end(ap);
  longjmp(failed, 1);
}

/* ---- messages ---- */

struct msg {
  struct nlmsghdr h;
  char buf[4096];
};

static void *tail(struct msg *m) { return (char *)m + NLMSG_ALIGN(m->h.nlmsg_len); }

static struct rtattr *put(struct msg *m, unsigned short type, const void *data, size_t len) {
  struct rtattr *a = tail(m);
  if (NLMSG_ALIGN(m->h.nlmsg_len) + RTA_SPACE(len) > sizeof(*m)) die("message too long");
  a->rta_type = type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len) memcpy(RTA_DATA(a), data, len);
  m->h.nlmsg_len = (unsigned)(NLMSG_ALIGN(m->h.nlmsg_len) + RTA_SPACE(len));
  return a;
}

static void put_str(struct msg *m, unsigned short type, const char *s) { put(m, type, s, strlen(s) + 1); }
static void put_u32(struct msg *m, unsigned short type, unsigned v) { put(m, type, &v, sizeof(v)); }
static struct rtattr *nest(struct msg *m, unsigned short type) { return put(m, type, NULL, 0); }
static void end_nest(struct msg *m, struct rtattr *a) { a->rta_len = (unsigned short)((char *)tail(m) - (char *)a); }

static void start(struct msg *m, unsigned short type, unsigned short flags, const void *hdr, size_t len) {
  memset(m, 0, sizeof(*m));
  m->h.nlmsg_type = type;
  m->h.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  m->h.nlmsg_len = (unsigned)NLMSG_LENGTH(len);
  memcpy(NLMSG_DATA(&m->h), hdr, len);
}

/* Sends the request in the current namespace; the kernel's errno (0 when it took it). */
static int talk(struct msg *m) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) die("netlink socket: %s", strerror(errno));
  struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
  char reply[8192];
  ssize_t n = sendto(fd, m, m->h.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
  if (n >= 0) n = recv(fd, reply, sizeof(reply), 0);
  int e = errno;
  close(fd);
  if (n < 0) die("netlink: %s", strerror(e));
  struct nlmsghdr *h = (struct nlmsghdr *)reply;
  if (!NLMSG_OK(h, (unsigned)n) || h->nlmsg_type != NLMSG_ERROR) die("netlink: unexpected reply");
  return -((struct nlmsgerr *)NLMSG_DATA(h))->error;
}

static void must(struct msg *m, const char *what) {
  int e = talk(m);
  if (e) die("%s: %s", what, strerror(e));
}

static int ifindex(const char *name) {
  unsigned i = if_nametoindex(name);
  if (!i) die("no link %s", name);
  return (int)i;
}

static int open_ns(const char *path) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open %s: %s", path, strerror(errno));
  return fd;
}

/* ---- ops ---- */

static void new_link(const char *name, int mtu, const char *kind, const char *peer, int peer_ns) {
  struct msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  start(&m, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  put_str(&m, IFLA_IFNAME, name);
  if (mtu > 0) put_u32(&m, IFLA_MTU, (unsigned)mtu);
  struct rtattr *info = nest(&m, IFLA_LINKINFO);
  put_str(&m, IFLA_INFO_KIND, kind);
  if (peer) {
    struct rtattr *data = nest(&m, IFLA_INFO_DATA);
    struct rtattr *p = nest(&m, VETH_INFO_PEER);
    struct ifinfomsg pi = {.ifi_family = AF_UNSPEC};
    memcpy(tail(&m), &pi, sizeof(pi));
    m.h.nlmsg_len += (unsigned)NLMSG_ALIGN(sizeof(pi));
    put_str(&m, IFLA_IFNAME, peer);
    if (mtu > 0) put_u32(&m, IFLA_MTU, (unsigned)mtu);
    if (peer_ns >= 0) put_u32(&m, IFLA_NET_NS_FD, (unsigned)peer_ns);
    end_nest(&m, p);
    end_nest(&m, data);
  }
  end_nest(&m, info);
  must(&m, name);
}

static void set_link(const char *name, unsigned flags, unsigned short attr, const void *data, size_t len) {
  struct msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = ifindex(name), .ifi_flags = flags, .ifi_change = flags};
  start(&m, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  if (attr) put(&m, attr, data, len);
  must(&m, name);
}

/* The bridge sends a frame back out the port it came in on (a DNAT to the sender itself, with br_netfilter). */
static void hairpin(const char *name) {
  struct msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_BRIDGE, .ifi_index = ifindex(name)};
  start(&m, RTM_SETLINK, 0, &ifi, sizeof(ifi));
  struct rtattr *p = nest(&m, IFLA_PROTINFO | NLA_F_NESTED);
  unsigned char on = 1;
  put(&m, IFLA_BRPORT_MODE, &on, 1);
  end_nest(&m, p);
  must(&m, name);
}

static int parse_addr(const char *text, unsigned char *out, int *plen) {
  char buf[64];
  snprintf(buf, sizeof(buf), "%s", text);
  char *slash = strchr(buf, '/');
  if (slash) *slash = 0;
  int fam = strchr(buf, ':') ? AF_INET6 : AF_INET;
  if (inet_pton(fam, buf, out) != 1) die("not an address: %s", text);
  if (plen) *plen = slash ? atoi(slash + 1) : (fam == AF_INET ? 32 : 128);
  return fam;
}

static void add_addr(const char *name, const char *cidr) {
  unsigned char a[16];
  int plen;
  int fam = parse_addr(cidr, a, &plen);
  size_t alen = fam == AF_INET ? 4 : 16;
  struct msg m;
  struct ifaddrmsg ifa = {.ifa_family = (unsigned char)fam, .ifa_prefixlen = (unsigned char)plen, .ifa_index = (unsigned)ifindex(name)};
  start(&m, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
  put(&m, IFA_LOCAL, a, alen);
  put(&m, IFA_ADDRESS, a, alen);
  if (fam == AF_INET6) put_u32(&m, IFA_FLAGS, IFA_F_NODAD); /* the address is ours alone: usable at once, not after DAD */
  if (fam == AF_INET && plen < 31) {
    unsigned char b[4];
    memcpy(b, a, 4);
    unsigned host = plen ? (0xffffffffu >> plen) : 0xffffffffu;
    unsigned v = ((unsigned)b[0] << 24 | (unsigned)b[1] << 16 | (unsigned)b[2] << 8 | b[3]) | host;
    unsigned char bc[4] = {(unsigned char)(v >> 24), (unsigned char)(v >> 16), (unsigned char)(v >> 8), (unsigned char)v};
    put(&m, IFA_BROADCAST, bc, 4);
  }
  must(&m, cidr);
}

static void add_route(const char *dest, const char *gateway) {
  unsigned char d[16], g[16];
  int plen;
  int fam = parse_addr(dest, d, &plen);
  if (parse_addr(gateway, g, NULL) != fam) die("gateway %s is not of the destination's family", gateway);
  size_t alen = fam == AF_INET ? 4 : 16;
  struct msg m;
  struct rtmsg rt = {.rtm_family = (unsigned char)fam, .rtm_dst_len = (unsigned char)plen, .rtm_table = RT_TABLE_MAIN,
                     .rtm_protocol = RTPROT_BOOT, .rtm_scope = RT_SCOPE_UNIVERSE, .rtm_type = RTN_UNICAST};
  start(&m, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
  if (plen) put(&m, RTA_DST, d, alen);
  put(&m, RTA_GATEWAY, g, alen);
  must(&m, dest);
}

static void del_link(const char *name) {
  unsigned i = if_nametoindex(name);
  if (!i) return;
  struct msg m;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)i};
  start(&m, RTM_DELLINK, 0, &ifi, sizeof(ifi));
  int e = talk(&m);
  if (e && e != ENODEV) die("%s: %s", name, strerror(e));
}

static void write_sysctl(const char *path, const char *value) {
  char p[512];
  if (strstr(path, "..")) die("not a sysctl: %s", path);
  snprintf(p, sizeof(p), "/proc/sys/%s", path);
  int fd = open(p, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write_all(fd, value, strlen(value)) < 0) die("%s: %s", p, strerror(errno));
  close(fd);
}

static int parse_mac(const char *s, unsigned char *mac) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) mac[i] = (unsigned char)v[i];
  return 0;
}

static void run(int argc, char **a, int host_ns) {
  if (!strcmp(a[0], "netns") && argc == 2) {
    int fd = strcmp(a[1], "host") ? (pending_fd = open_ns(a[1])) : host_ns;
    if (setns(fd, CLONE_NEWNET) < 0) die("%s: %s", a[1], strerror(errno));
    if (fd != host_ns) close(fd);
    pending_fd = -1;
  } else if (!strcmp(a[0], "bridge") && argc == 3) {
    new_link(a[1], atoi(a[2]), "bridge", NULL, -1);
  } else if (!strcmp(a[0], "veth") && argc == 5) {
    pending_fd = open_ns(a[4]);
    new_link(a[1], atoi(a[3]), "veth", a[2], pending_fd);
    close(pending_fd);
    pending_fd = -1;
  } else if (!strcmp(a[0], "master") && argc == 3) {
    int br = ifindex(a[2]);
    set_link(a[1], 0, IFLA_MASTER, &br, sizeof(br));
  } else if (!strcmp(a[0], "hairpin") && argc == 2) {
    hairpin(a[1]);
  } else if (!strcmp(a[0], "mac") && argc == 3) {
    unsigned char mac[6];
    if (parse_mac(a[2], mac) < 0) die("not a MAC address: %s", a[2]);
    set_link(a[1], 0, IFLA_ADDRESS, mac, 6);
  } else if (!strcmp(a[0], "rename") && argc == 3) {
    set_link(a[1], 0, IFLA_IFNAME, a[2], strlen(a[2]) + 1);
  } else if (!strcmp(a[0], "up") && argc == 2) {
    set_link(a[1], IFF_UP, 0, NULL, 0);
  } else if (!strcmp(a[0], "addr") && argc == 3) {
    add_addr(a[1], a[2]);
  } else if (!strcmp(a[0], "route") && argc == 3) {
    add_route(a[1], a[2]);
  } else if (!strcmp(a[0], "del") && argc == 2) {
    del_link(a[1]);
  } else if (!strcmp(a[0], "sysctl") && argc == 3) {
    write_sysctl(a[1], a[2]);
  } else {
    die("not an op, or not its arguments");
  }
}

int net_run_plan(char *plan, char *err, size_t errlen) {
  err_out = err;
  err_len = errlen;
  err[0] = 0;
  lineno = 0;
  snprintf(op_name, sizeof(op_name), "start");
  /* this thread's namespace, not the process's: the one to come back to */
  int host_ns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (host_ns < 0) {
    snprintf(err, errlen, "open /proc/thread-self/ns/net: %s", strerror(errno));
    return -1;
  }
  int rc = 0;
  char *save = NULL;
  if (setjmp(failed)) {
    rc = -1;
  } else {
    for (char *line = strtok_r(plan, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
      lineno++;
      char *a[8], *word = NULL;
      int argc = 0;
      for (char *t = strtok_r(line, " \t", &word); t && argc < 8; t = strtok_r(NULL, " \t", &word)) a[argc++] = t;
      if (!argc) continue;
      snprintf(op_name, sizeof(op_name), "%s", a[0]);
      run(argc, a, host_ns);
    }
  }
  if (pending_fd >= 0) close(pending_fd);
  pending_fd = -1;
  if (setns(host_ns, CLONE_NEWNET) < 0) abort(); /* a daemon thread left in a container's namespace must not go on */
  close(host_ns);
  return rc;
}
