/* A socket made in a container's network namespace for berthd to serve
 * (the embedded DNS at 127.0.0.11): only this thread enters it, and only
 * for the socket() and bind(). */
#include "net.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int net_socket_in(const char *ns_path, int tcp, const char *ip, int port, char *err, size_t errlen) {
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((unsigned short)port)};
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
    snprintf(err, errlen, "not an IPv4 address: %s", ip);
    return -1;
  }
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), ns = open(ns_path, O_RDONLY | O_CLOEXEC), fd = -1, one = 1;
  if (home >= 0 && ns >= 0 && setns(ns, CLONE_NEWNET) == 0) {
    fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd >= 0) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd >= 0 && (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (tcp && listen(fd, 128) < 0))) {
      int e = errno;
      close(fd);
      fd = -1;
      errno = e;
    }
    int e = errno;
    if (setns(home, CLONE_NEWNET) < 0) abort(); /* as in net_run_plan */
    errno = e;
  }
  if (fd < 0) snprintf(err, errlen, "%s %s:%d in %s: %s", tcp ? "tcp" : "udp", ip, port, ns_path, strerror(errno));
  if (home >= 0) close(home);
  if (ns >= 0) close(ns);
  return fd;
}
