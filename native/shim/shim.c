/* berth-shim: one per container process, started by berthd, outliving it.
 *
 *   berth-shim --dir DIR --exit FILE [--exit-nosync] [--listen-fd N] [--exec-fd N] [--tty] [--stdin]
 *              [--stdin-once] [--wait-attach] [--log FILE] [--log-max-size BYTES] [--log-max-file N]
 *              [--log-format json|local] [--log-compress] -- EXECUTOR ARGS...
 *
 * Runs EXECUTOR (berth-exec, reading its plan from fd 3 and reporting on fd
 * 4, both inherited from berthd) and becomes the container process's reaper
 * (PR_SET_CHILD_SUBREAPER), so the process stays its child when the
 * executor exits (--exec-fd: EXECUTOR is run from that file descriptor,
 * berthd's sealed copy of it). The executor's report is forwarded to fd 4 and read here
 * for the process's pid. The shim then holds the process's stdio: a pty
 * (received on DIR/console.sock) or pipes. Output goes to the json-file log
 * (rotated by size) and to attached clients. DIR/shim.sock takes one line
 * per connection (--listen-fd: berthd made and bound it, and hands it over
 * listening, so its first request never finds it missing):
 *   attach I O E   stream in, out, err (0/1 each); frames as docker's stdcopy
 *                  unless the process has a tty. When the line comes with a
 *                  file descriptor (SCM_RIGHTS: berthd hands over the API
 *                  client's connection), output is written to it directly
 *                  and this connection carries only the input. With two
 *                  (the client's own stdout and stderr, which berthd took
 *                  for the berth CLI), each stream is written to its own
 *                  as it is, without frames; when one fails, a stdcopy
 *                  systemerr frame (stream 3) on this connection says why
 *                  ("EPIPE" when the reader is gone) and the client is dropped.
 *   resize R C     set the pty's size
 *   wait           answered "exit N" when the process ends
 * When the process ends, "CODE SECONDS.NANOS" goes to the exit FILE (temp
 * file, fsync, rename; --exit-nosync: no fsync, for an exec's status that
 * no restart reads), waiters are told, and the shim exits. */
#include "../common/io.h"
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 64
#define PARTIAL_MAX 16384 /* docker splits log lines longer than this */
/* Output pipes are this large (the default is 64 KiB) and read whole: every
 * wake-up of the shim or the writer costs more than the copy on a VM. */
#define PIPE_BYTES (1 << 20)

enum { C_FREE, C_HEADER, C_ATTACH, C_WAIT };
struct client {
  int fd, kind, in, out, err, eof; /* eof: the client closed its writing side */
  int ofd; /* output goes here when berthd handed over the client's own connection, else to fd */
  int dout, derr; /* or as it is to these: the client's own stdout and stderr */
  char hdr[128];
  size_t hlen;
};

static struct {
  const char *dir, *log_path, *exit_path;
  int tty, want_stdin, stdin_once, wait_attach, exit_nosync, listen_fd, exec_fd;
  long long log_max_size;
  int log_max_file;
  int log_local, log_compress; /* docker's "local" format: protobuf entries, rotated files gzipped */
  int log_fd;
  long long log_size;
  int in_fd, out_fd, err_fd; /* container side: stdin writer, stdout/stderr readers (pty master for all with tty) */
  pid_t init;
  struct client clients[MAX_CLIENTS];
  size_t plen[2];
  /* '","stream":"stdout","time":"...Z"}\n' for the lines of one read: formatted once per read */
  char suffix[2][96];
  size_t suffix_len[2];
  long long nanos[2]; /* the same time, for the local format */
} S = {.listen_fd = -1, .exec_fd = -1, .log_fd = -1, .in_fd = -1, .out_fd = -1, .err_fd = -1, .log_max_size = 20 << 20, .log_max_file = 5};

/* a line not yet ended, per stream (in .bss, where S's initializer does not put it) */
static char partial[2][PARTIAL_MAX];

static void die(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "berth-shim: ");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n");
  va_end(ap);
  exit(1);
}


static int listen_at(const char *path) {
  struct sockaddr_un a = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof(a.sun_path)) die("socket path too long: %s", path);
  strcpy(a.sun_path, path);
  unlink(path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 64) < 0) die("listen on %s: %s", path, strerror(errno));
  return fd;
}

/* ---- the log (json-file or local) ---- */

/* A thread that nobody joins, on a small stack; false when it could not start. */
static int start_detached(void *(*fn)(void *), void *arg) {
  pthread_attr_t a;
  pthread_t t;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&a, 65536);
  int ok = pthread_create(&t, &a, fn, arg) == 0;
  pthread_attr_destroy(&a);
  return ok;
}

/* Deletes a rotated-out file off the output path: with ext4's `discard`
 * option freeing its blocks waits for the device (tens of ms per file), and
 * the process's output would wait with it. */
static int unlinks_pending;

static void *unlink_file(void *path) {
  unlink(path);
  free(path);
  __atomic_sub_fetch(&unlinks_pending, 1, __ATOMIC_SEQ_CST);
  return NULL;
}

static void unlink_later(const char *path) {
  static unsigned serial;
  char gone[4200];
  snprintf(gone, sizeof(gone), "%s.gone.%u", S.log_path, serial++);
  if (rename(path, gone) != 0) return;
  char *arg = strdup(gone);
  if (!arg) {
    unlink(gone);
    return;
  }
  __atomic_add_fetch(&unlinks_pending, 1, __ATOMIC_SEQ_CST);
  if (!start_detached(unlink_file, arg)) unlink_file(arg);
}

/* --log-compress: the file rotated out (LOG.1) is gzipped beside the output
 * path, to LOG.1.gz (through a temporary name), and then dropped. gzip(1)
 * (Essential on Debian) does it, so the shim stays a small static program
 * that never maps zlib. It runs under a compressor process that renames or
 * drops its output when it ends. The compressor is a "clone" child (no exit
 * signal, and it never execs, which would make it an ordinary child): the
 * main loop's waitpid(-1) leaves it alone, and only compress_wait reaps it
 * (__WCLONE), when its pidfd says it has ended or before the next rotation
 * shifts the names. */
static struct {
  pthread_mutex_t mu;
  pid_t pid;
  int pidfd;
} C = {.mu = PTHREAD_MUTEX_INITIALIZER, .pidfd = -1};

static const char *gzip_path(void) {
  static char found[4200];
  if (found[0]) return found;
  const char *path = getenv("PATH");
  if (!path || !*path) path = "/usr/local/bin:/usr/bin:/bin";
  for (const char *p = path; *p;) {
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n > 0 && n < sizeof(found) - 6) {
      snprintf(found, sizeof(found), "%.*s/gzip", (int)n, p);
      if (access(found, X_OK) == 0) return found;
    }
    p += n + (end ? 1 : 0);
  }
  found[0] = 0;
  return NULL;
}

/* The compressor: a copy of one thread of the shim, so it calls nothing
 * that takes a lock (no malloc, no stdio). A rotated file that could not be
 * gzipped (no gzip, a full disk) stays plain. */
static void compressor(const char *gzip, int in, int out, const char *plain, const char *tmp, const char *dst) {
  /* nothing else of the shim's stays open here: a container's stdin would not end while this ran */
  if (dup2(in, 0) < 0 || dup2(out, 1) < 0) _exit(126);
  if (syscall(SYS_close_range, 3, ~0U, 0) != 0)
    for (int fd = 3; fd < 4096; fd++) close(fd);
  pid_t g = (pid_t)syscall(SYS_clone, (long)SIGCHLD, 0L, 0L, 0L, 0L);
  if (g == 0) {
    char *const args[] = {"gzip", "-1", "-c", NULL};
    execve(gzip, args, environ);
    _exit(127);
  }
  int st = -1;
  while (g > 0 && waitpid(g, &st, 0) < 0 && errno == EINTR) {}
  int ok = g > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && rename(tmp, dst) == 0;
  if (ok) unlink(plain);
  else unlink(tmp);
  _exit(ok ? 0 : 1);
}

static void compress_start(const char *plain) {
  char tmp[4300], dst[4300];
  const char *gzip = gzip_path();
  snprintf(tmp, sizeof(tmp), "%s.gz.tmp", plain);
  snprintf(dst, sizeof(dst), "%s.gz", plain);
  int in = gzip ? open(plain, O_RDONLY | O_CLOEXEC) : -1;
  int out = in >= 0 ? open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640) : -1;
  if (out >= 0) {
    pid_t p = (pid_t)syscall(SYS_clone, 0L, 0L, 0L, 0L, 0L); /* fork, without an exit signal */
    if (p == 0) compressor(gzip, in, out, plain, tmp, dst);
    if (p > 0) {
      pthread_mutex_lock(&C.mu);
      C.pid = p;
      __atomic_store_n(&C.pidfd, (int)syscall(SYS_pidfd_open, p, 0), __ATOMIC_SEQ_CST);
      pthread_mutex_unlock(&C.mu);
    } else unlink(tmp);
  }
  if (in >= 0) close(in);
  if (out >= 0) close(out);
}

static void compress_wait(void) {
  pthread_mutex_lock(&C.mu);
  if (C.pid > 0) {
    while (waitpid(C.pid, NULL, __WCLONE) < 0 && errno == EINTR) {}
    if (C.pidfd >= 0) close(C.pidfd);
    C.pid = 0;
    __atomic_store_n(&C.pidfd, -1, __ATOMIC_SEQ_CST);
  }
  pthread_mutex_unlock(&C.mu);
}

static void log_rotate(void) {
  char from[4200], to[4200];
  compress_wait(); /* the last rotated file is LOG.1.gz before the names shift */
  if (S.log_max_file <= 1) { /* keep one file: start it again */
    unlink_later(S.log_path);
  } else {
    /* LOG.N and LOG.N.gz both shift, so neither is overwritten. */
    for (int z = 0; z <= S.log_compress; z++) {
      snprintf(from, sizeof(from), "%s.%d%s", S.log_path, S.log_max_file - 1, z ? ".gz" : "");
      unlink_later(from);
      for (int i = S.log_max_file - 1; i >= 2; i--) {
        snprintf(from, sizeof(from), "%s.%d%s", S.log_path, i - 1, z ? ".gz" : "");
        snprintf(to, sizeof(to), "%s.%d%s", S.log_path, i, z ? ".gz" : "");
        rename(from, to);
      }
    }
    snprintf(to, sizeof(to), "%s.1", S.log_path);
    rename(S.log_path, to);
    if (S.log_compress) compress_start(to);
  }
  close(S.log_fd);
  S.log_fd = open(S.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  S.log_size = 0;
}

/* Entries are gathered in obuf and handed, a buffer at a time, to a writer
 * thread: the file system's share of a log write (about half the shim's
 * time) then runs beside the reading, encoding and forwarding. The thread
 * starts with the first entry, so a quiet container never has one. */
static char *obuf;
static size_t olen, ocap;
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *buf; /* handed over, being written while busy */
  size_t len, cap;
  int busy, started;
} W = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* The length of the entry at p (n bytes): a json-file entry ends with its
 * only raw newline; a local one says its length (big-endian) in front of it,
 * and is that plus 8. */
static size_t entry_len(const char *p, size_t n) {
  if (!S.log_local) {
    const char *nl = memchr(p, '\n', n);
    return nl ? (size_t)(nl - p) + 1 : n;
  }
  if (n < 4) return n;
  const unsigned char *q = (const unsigned char *)p;
  size_t len = 8 + ((size_t)q[0] << 24 | (size_t)q[1] << 16 | (size_t)q[2] << 8 | q[3]);
  return len < n ? len : n;
}

/* How many bytes of whole entries at p (n bytes) fit in `room`. */
static size_t whole_entries(const char *p, size_t n, size_t room) {
  if (!S.log_local) { /* the last newline in room, found at once */
    const char *end = room ? memrchr(p, '\n', room < n ? room : n) : NULL;
    return end ? (size_t)(end - p) + 1 : 0;
  }
  size_t at = 0;
  while (at < n) {
    size_t next = at + entry_len(p + at, n - at);
    if (next > room) break;
    at = next;
  }
  return at;
}

/* Writes whole entries, rotating between two whenever the next would take
 * the file past --log-max-size. */
static void log_store(const char *p, size_t n) {
  while (n > 0) {
    size_t take = n;
    if (S.log_max_size > 0 && S.log_size + (long long)n > S.log_max_size) {
      long long room = S.log_max_size - S.log_size;
      size_t fit = room > 0 ? whole_entries(p, n, (size_t)room) : 0;
      if (fit) take = fit;
      else if (S.log_size > 0) { /* not one more entry fits */
        log_rotate();
        continue;
      } else take = entry_len(p, n); /* an entry larger than a file */
    }
    if (S.log_fd >= 0 && write_all(S.log_fd, p, take) == 0) S.log_size += (long long)take;
    p += take;
    n -= take;
  }
}

static void *log_writer(void *unused) {
  (void)unused;
  pthread_mutex_lock(&W.mu);
  for (;;) {
    while (!W.busy) pthread_cond_wait(&W.cv, &W.mu);
    pthread_mutex_unlock(&W.mu);
    log_store(W.buf, W.len);
    pthread_mutex_lock(&W.mu);
    W.busy = 0;
    pthread_cond_broadcast(&W.cv);
  }
  return NULL;
}

/* Waits until the writer has written what it was handed. */
static void log_drain(void) {
  pthread_mutex_lock(&W.mu);
  while (W.busy) pthread_cond_wait(&W.cv, &W.mu);
  pthread_mutex_unlock(&W.mu);
}

static void log_write(void) {
  if (olen == 0) return;
  if (!W.started) W.started = start_detached(log_writer, NULL) ? 1 : -1;
  if (W.started < 0) { /* no thread: write here */
    log_store(obuf, olen);
    olen = 0;
    return;
  }
  pthread_mutex_lock(&W.mu);
  while (W.busy) pthread_cond_wait(&W.cv, &W.mu);
  char *b = W.buf;
  size_t cap = W.cap;
  W.buf = obuf;
  W.cap = ocap;
  W.len = olen;
  W.busy = 1;
  pthread_cond_broadcast(&W.cv);
  pthread_mutex_unlock(&W.mu);
  obuf = b;
  ocap = cap;
  olen = 0;
}

/* Bytes a JSON string holds as they are: printable ASCII except what Go's
 * encoder escapes (quote, backslash, and <, >, & as \u003c...). */
static unsigned char plain[256];

/* Whether all 16 bytes at p are plain, tested together: GCC's vector
 * extensions become SSE2 (or NEON) compares, a few instructions per block. */
typedef unsigned char u8x16 __attribute__((vector_size(16)));
static int plain16(const unsigned char *p) {
  u8x16 v;
  memcpy(&v, p, 16);
  u8x16 bad = (u8x16)((v < 0x20) | (v >= 0x80) | (v == '"') | (v == '\\') | (v == '<') | (v == '>') | (v == '&'));
  uint64_t w[2];
  memcpy(w, &bad, 16);
  return !(w[0] | w[1]);
}

/* musl's memchr goes a word, and its memcpy a `rep movs`, at a time; the
 * log's hot paths (a newline per line, a copy per run) take 16 bytes a step,
 * as glibc's do. GCC must not turn the loops back into calls. */
#define NO_LIBCALLS __attribute__((optimize("no-tree-loop-distribute-patterns")))

static NO_LIBCALLS const unsigned char *find_newline(const unsigned char *p, size_t n) {
  size_t i = 0;
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  for (; i + 16 <= n; i += 16) {
    u8x16 v;
    memcpy(&v, p + i, 16);
    u8x16 hit = (u8x16)(v == '\n');
    uint64_t w[2];
    memcpy(w, &hit, 16);
    if (w[0]) return p + i + (__builtin_ctzll(w[0]) >> 3);
    if (w[1]) return p + i + 8 + (__builtin_ctzll(w[1]) >> 3);
  }
#endif
  for (; i < n; i++)
    if (p[i] == '\n') return p + i;
  return NULL;
}

/* memcpy for buffers that do not overlap: whole 16-byte moves, the last one
 * overlapping the one before it. */
static NO_LIBCALLS void copy_bytes(void *dst, const void *src, size_t n) {
  char *d = dst;
  const char *s = src;
  if (n >= 16) {
    for (size_t i = 0; i + 16 < n; i += 16) memcpy(d + i, s + i, 16);
    memcpy(d + n - 16, s + n - 16, 16);
  } else if (n >= 8) {
    memcpy(d, s, 8);
    memcpy(d + n - 8, s + n - 8, 8);
  } else if (n >= 4) {
    memcpy(d, s, 4);
    memcpy(d + n - 4, s + n - 4, 4);
  } else {
    for (size_t i = 0; i < n; i++) d[i] = s[i];
  }
}

static void init_plain(void) {
  for (int c = 0x20; c < 0x80; c++) plain[c] = 1;
  plain['"'] = plain['\\'] = plain['<'] = plain['>'] = plain['&'] = 0;
}

/* Room for `need` more bytes of entries at the end of obuf (handing the
 * gathered ones to the writer when it is full); where they go. */
static char *reserve(size_t need) {
  if (olen + need > ocap) {
    log_write();
    if (need > ocap) {
      free(obuf);
      ocap = need > (1 << 18) ? need : (1 << 18);
      obuf = malloc(ocap);
      if (!obuf) die("out of memory");
    }
  }
  return obuf + olen;
}

static void log_entry_local(int stream, const unsigned char *p, size_t n);

/* One entry: {"log":"...","stream":"stdout","time":"RFC3339Nano"}. Bytes
 * that are not valid UTF-8 become U+FFFD, as Go's encoder does. */
static void log_entry(int stream, const unsigned char *p, size_t n) {
  if (S.log_local) {
    log_entry_local(stream, p, n);
    return;
  }
  char *o = reserve(n * 6 + 128);
  memcpy(o, "{\"log\":\"", 8);
  o += 8;
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < n;) {
    /* a run of bytes that stand for themselves is copied at once: most log text is one */
    size_t run = i;
    while (run + 16 <= n && plain16(p + run)) run += 16;
    while (run < n && plain[p[run]]) run++;
    if (run > i) {
      copy_bytes(o, p + i, run - i);
      o += run - i;
      i = run;
      continue;
    }
    unsigned char c = p[i];
    if (c < 0x80) {
      *o++ = '\\';
      switch (c) {
      case '"': *o++ = '"'; break;
      case '\\': *o++ = '\\'; break;
      case '\n': *o++ = 'n'; break;
      case '\r': *o++ = 'r'; break;
      case '\t': *o++ = 't'; break;
      default: *o++ = 'u'; *o++ = '0'; *o++ = '0'; *o++ = hex[c >> 4]; *o++ = hex[c & 15];
      }
      i++;
    } else {
      size_t len = c >= 0xf0 && c < 0xf5 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
      int ok = len > 0 && i + len <= n;
      for (size_t k = 1; ok && k < len; k++) ok = (p[i + k] & 0xc0) == 0x80;
      if (ok && len == 3) ok = !(c == 0xe0 && p[i + 1] < 0xa0) && !(c == 0xed && p[i + 1] >= 0xa0);
      if (ok && len == 4) ok = !(c == 0xf0 && p[i + 1] < 0x90) && !(c == 0xf4 && p[i + 1] >= 0x90);
      if (ok && len == 3 && c == 0xe2 && p[i + 1] == 0x80 && (p[i + 2] & 0xfe) == 0xa8) {
        memcpy(o, p[i + 2] == 0xa8 ? "\\u2028" : "\\u2029", 6); /* line and paragraph separators, as Go escapes them */
        o += 6;
        i += 3;
      } else if (ok) {
        memcpy(o, p + i, len);
        o += len;
        i += len;
      } else {
        memcpy(o, "\xef\xbf\xbd", 3);
        o += 3;
        i++;
      }
    }
  }
  copy_bytes(o, S.suffix[stream], S.suffix_len[stream]);
  o += S.suffix_len[stream];
  olen = (size_t)(o - obuf);
}

static size_t varint(char *o, unsigned long long v) {
  size_t n = 0;
  while (v >= 0x80) {
    o[n++] = (char)(v | 0x80);
    v >>= 7;
  }
  o[n++] = (char)v;
  return n;
}

/* One entry of docker's local format: a big-endian length, a protobuf
 * LogEntry {1: source, 2: time_nano, 3: line without its newline,
 * 4: partial when it had none}, and the length again (so it reads backward). */
static void log_entry_local(int stream, const unsigned char *p, size_t n) {
  char *frame = reserve(n + 64), *o = frame + 4;
  int whole = n > 0 && p[n - 1] == '\n';
  size_t len = whole ? n - 1 : n;
  *o++ = 0x0a;
  *o++ = 6;
  memcpy(o, stream ? "stderr" : "stdout", 6);
  o += 6;
  *o++ = 0x10;
  o += varint(o, (unsigned long long)S.nanos[stream]);
  *o++ = 0x1a;
  o += varint(o, len);
  copy_bytes(o, p, len);
  o += len;
  if (!whole) {
    *o++ = 0x20;
    *o++ = 1;
  }
  uint32_t size = (uint32_t)(o - frame - 4);
  unsigned char be[4] = {(unsigned char)(size >> 24), (unsigned char)(size >> 16), (unsigned char)(size >> 8), (unsigned char)size};
  memcpy(frame, be, 4);
  memcpy(o, be, 4);
  o += 4;
  olen = (size_t)(o - obuf);
}

static void stamp(int stream) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  S.nanos[stream] = (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
  if (S.log_local) return; /* the JSON suffix is json-file's alone */
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  S.suffix_len[stream] = (size_t)snprintf(S.suffix[stream], sizeof(S.suffix[stream]), "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n",
                                          stream ? "stderr" : "stdout", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
}

/* Splits output into lines; a line longer than PARTIAL_MAX is logged in parts.
 * The lines of one read share its time stamp. */
static void log_output(int stream, const unsigned char *p, size_t n) {
  if (S.log_fd < 0) return;
  stamp(stream);
  char *part = partial[stream];
  size_t *plen = &S.plen[stream];
  while (n > 0) {
    const unsigned char *nl = find_newline(p, n);
    size_t take = nl ? (size_t)(nl - p) + 1 : n;
    if (*plen == 0 && nl) {
      log_entry(stream, p, take); /* a whole line: no copy */
    } else {
      size_t room = PARTIAL_MAX - *plen;
      if (take > room) take = room;
      copy_bytes(part + *plen, p, take);
      *plen += take;
      if (part[*plen - 1] == '\n' || *plen == PARTIAL_MAX) {
        log_entry(stream, (unsigned char *)part, *plen);
        *plen = 0;
      }
    }
    p += take;
    n -= take;
  }
  log_write();
}

static void log_flush(void) {
  for (int s = 0; s < 2; s++)
    if (S.plen[s]) {
      stamp(s);
      log_entry(s, (unsigned char *)partial[s], S.plen[s]);
      S.plen[s] = 0;
    }
  log_write();
  log_drain();
}

/* ---- clients ---- */

/* read() that also takes up to `max` file descriptors sent along (SCM_RIGHTS)
 * into fds; *nfds says how many came. More than `max` are closed. */
static ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int max, int *nfds) {
  char cbuf[CMSG_SPACE(4 * sizeof(int))];
  struct iovec iov = {.iov_base = buf, .iov_len = len};
  struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf)};
  ssize_t n = recvmsg(sock, &m, MSG_CMSG_CLOEXEC);
  struct cmsghdr *c = n >= 0 ? CMSG_FIRSTHDR(&m) : NULL;
  *nfds = 0;
  if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
    int got = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int)), all[4];
    memcpy(all, CMSG_DATA(c), (size_t)got * sizeof(int));
    for (int i = 0; i < got; i++) {
      if (i < max) fds[(*nfds)++] = all[i];
      else close(all[i]);
    }
  }
  return n;
}

/* Where the client's output goes: `fd` (a handed-over connection), or -1 for its own. */
static void set_output(struct client *c, int fd) {
  if (c->ofd >= 0) close(c->ofd);
  c->ofd = fd;
}

/* Where the client's streams go as they are: its own stdout and stderr (-1: nowhere). */
static void set_direct(struct client *c, int out, int err) {
  if (c->dout >= 0) close(c->dout);
  if (c->derr >= 0) close(c->derr);
  c->dout = out;
  c->derr = err;
}

static void drop(struct client *c) {
  close(c->fd);
  set_output(c, -1);
  set_direct(c, -1, -1);
  c->kind = C_FREE;
  c->fd = -1;
}

static void close_stdin(void) {
  if (S.in_fd >= 0 && !S.tty) close(S.in_fd);
  if (!S.tty) S.in_fd = -1;
}

static void to_clients(int stream, const char *p, size_t n) {
  unsigned char h[8] = {(unsigned char)(stream + 1), 0, 0, 0, (unsigned char)(n >> 24), (unsigned char)(n >> 16), (unsigned char)(n >> 8), (unsigned char)n};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    struct client *c = &S.clients[i];
    if (c->kind != C_ATTACH || !(stream ? c->err : c->out)) continue;
    if (c->dout >= 0) {
      if (write_all(stream ? c->derr : c->dout, p, n) >= 0) continue;
      /* as the client's own write would have failed: it is told why, in band */
      const char *why = errno == EPIPE ? "EPIPE" : strerror(errno);
      size_t wl = strlen(why);
      unsigned char eh[8] = {3, 0, 0, 0, 0, 0, 0, (unsigned char)wl};
      if (write_all(c->fd, eh, 8) == 0) write_all(c->fd, why, wl);
      if (c->in && S.stdin_once) close_stdin();
      drop(c);
      continue;
    }
    int fd = c->ofd >= 0 ? c->ofd : c->fd;
    if ((S.tty || write_all(fd, h, 8) >= 0) && write_all(fd, p, n) >= 0) continue;
    if (c->ofd >= 0) { /* the client left (or detached): berthd still holds the rest and says when it ends */
      set_output(c, -1);
      c->out = c->err = 0;
      continue;
    }
    if (c->in && S.stdin_once) close_stdin();
    drop(c);
  }
}

static char read_buf[PIPE_BYTES] __attribute__((aligned(4096))); /* page-aligned, for madvise */
static int buffers_held; /* read_buf or the log's buffers hold pages */

/* After a quiet second the output buffers go back to the system: a process
 * that printed a burst once does not keep megabytes for the rest of its life. */
static void release_buffers(void) {
  log_drain();
  pthread_mutex_lock(&W.mu);
  free(W.buf);
  W.buf = NULL;
  W.cap = 0;
  pthread_mutex_unlock(&W.mu);
  free(obuf);
  obuf = NULL;
  ocap = 0;
  madvise(read_buf, sizeof(read_buf), MADV_DONTNEED);
  buffers_held = 0;
}

/* One read of the process's stdout (0) or stderr (1); 0 when it is finished. */
static int pump_output(int stream, int fd) {
  ssize_t n = read(fd, read_buf, sizeof(read_buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return 1;
  if (n <= 0) return 0;
  buffers_held = 1;
  log_output(stream, (unsigned char *)read_buf, (size_t)n);
  to_clients(stream, read_buf, (size_t)n);
  return 1;
}

static void header(struct client *c) {
  char *nl = memchr(c->hdr, '\n', c->hlen);
  if (!nl) {
    if (c->hlen == sizeof(c->hdr)) drop(c);
    return;
  }
  *nl = 0;
  size_t rest = c->hlen - (size_t)(nl + 1 - c->hdr);
  int a, b, d;
  unsigned short rows, cols;
  if (sscanf(c->hdr, "attach %d %d %d", &a, &b, &d) == 3) {
    c->kind = C_ATTACH;
    c->in = a && (S.in_fd >= 0 || S.tty); /* a tty's master comes later */
    c->out = b;
    c->err = d;
    write_all(c->fd, "ok\n", 3);
    if (c->in && rest) write_all(S.in_fd, nl + 1, rest);
    return;
  }
  set_output(c, -1); /* only an attach hands over a connection or output */
  set_direct(c, -1, -1);
  if (sscanf(c->hdr, "resize %hu %hu", &rows, &cols) == 2) {
    struct winsize ws = {.ws_row = rows, .ws_col = cols};
    int r = S.tty ? ioctl(S.in_fd, TIOCSWINSZ, &ws) : -1;
    write_all(c->fd, r == 0 ? "ok\n" : "error no tty\n", r == 0 ? 3 : 13);
    drop(c);
  } else if (strcmp(c->hdr, "wait") == 0) {
    c->kind = C_WAIT;
  } else {
    write_all(c->fd, "error unknown request\n", 22);
    drop(c);
  }
}

static void client_readable(struct client *c) {
  if (c->eof) { /* only a hangup wakes us for these */
    drop(c);
    return;
  }
  if (c->kind == C_HEADER) {
    int fds[2], nfds;
    ssize_t n = recv_with_fds(c->fd, c->hdr + c->hlen, sizeof(c->hdr) - c->hlen, fds, 2, &nfds);
    if (nfds == 1) {
      set_output(c, fds[0]);
      int sz = PIPE_BYTES; /* a frame in one piece: fewer, larger reads for the client */
      setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
    } else if (nfds == 2) {
      set_output(c, -1);
      set_direct(c, fds[0], fds[1]);
      /* the reader's pipe as large as ours (not a pipe: nothing happens), so a
       * read of ours goes out in one write, not sixteen */
      fcntl(c->dout, F_SETPIPE_SZ, PIPE_BYTES);
      fcntl(c->derr, F_SETPIPE_SZ, PIPE_BYTES);
    }
    if (n <= 0) {
      drop(c);
      return;
    }
    c->hlen += (size_t)n;
    header(c);
    return;
  }
  char buf[65536];
  ssize_t n = read(c->fd, buf, sizeof(buf));
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0) {
    if (c->kind == C_ATTACH && c->in && S.in_fd >= 0 && write_all(S.in_fd, buf, (size_t)n) < 0) close_stdin();
    return;
  }
  /* the client is gone (or closed its writing side) */
  if (c->kind == C_ATTACH && c->in) {
    c->in = 0;
    if (S.stdin_once) close_stdin();
    if (c->out || c->err) {
      c->eof = 1; /* keep sending output until it hangs up */
      return;
    }
  }
  drop(c);
}

static void accept_client(int lfd) {
  int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
  if (fd < 0) return;
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (S.clients[i].kind == C_FREE) {
      S.clients[i] = (struct client){.fd = fd, .ofd = -1, .dout = -1, .derr = -1, .kind = C_HEADER};
      return;
    }
  close(fd);
}

/* ---- startup ---- */

static int recv_fd(int sock) {
  char data[256];
  int fd = -1, n;
  return recv_with_fds(sock, data, sizeof(data), &fd, 1, &n) < 0 || n != 1 ? -1 : fd;
}

static void write_exit(int code) {
  char tmp[4200], text[64];
  snprintf(tmp, sizeof(tmp), "%s.tmp", S.exit_path);
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int n = snprintf(text, sizeof(text), "%d %lld.%09ld\n", code, (long long)ts.tv_sec, ts.tv_nsec);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return;
  write_all(fd, text, (size_t)n);
  if (!S.exit_nosync) fsync(fd);
  close(fd);
  rename(tmp, S.exit_path);
  if (S.exit_nosync) return;
  char dir[4200];
  snprintf(dir, sizeof(dir), "%s", S.exit_path);
  char *slash = strrchr(dir, '/');
  if (slash) *slash = 0;
  int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
}

int main(int argc, char **argv) {
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) S.dir = argv[++i];
    else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) S.log_path = argv[++i];
    else if (strcmp(argv[i], "--exit") == 0 && i + 1 < argc) S.exit_path = argv[++i];
    else if (strcmp(argv[i], "--listen-fd") == 0 && i + 1 < argc) S.listen_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--exec-fd") == 0 && i + 1 < argc) S.exec_fd = atoi(argv[++i]);
    else if (strcmp(argv[i], "--exit-nosync") == 0) S.exit_nosync = 1;
    else if (strcmp(argv[i], "--log-max-size") == 0 && i + 1 < argc) S.log_max_size = atoll(argv[++i]);
    else if (strcmp(argv[i], "--log-max-file") == 0 && i + 1 < argc) S.log_max_file = atoi(argv[++i]);
    else if (strcmp(argv[i], "--log-format") == 0 && i + 1 < argc) S.log_local = strcmp(argv[++i], "local") == 0;
    else if (strcmp(argv[i], "--log-compress") == 0) S.log_compress = 1;
    else if (strcmp(argv[i], "--tty") == 0) S.tty = 1;
    else if (strcmp(argv[i], "--stdin") == 0) S.want_stdin = 1;
    else if (strcmp(argv[i], "--stdin-once") == 0) S.stdin_once = 1;
    else if (strcmp(argv[i], "--wait-attach") == 0) S.wait_attach = 1;
    else die("unknown argument %s", argv[i]);
  }
  if (!S.dir || !S.exit_path || i >= argc) die("usage: berth-shim --dir DIR --exit FILE [--tty] [--stdin] [--stdin-once] [--log FILE] [--log-max-size N] [--log-max-file N] [--log-format json|local] [--log-compress] -- EXECUTOR ARGS...");
  prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
  setsid();
  signal(SIGPIPE, SIG_IGN);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  /* the daemon may die: nothing here may depend on it */
  signal(SIGHUP, SIG_IGN);
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);

  char path[4200];
  snprintf(path, sizeof(path), "%s/shim.sock", S.dir);
  int lfd = S.listen_fd;
  if (lfd < 0) lfd = listen_at(path);
  else fcntl(lfd, F_SETFD, FD_CLOEXEC); /* the executor and the container must not inherit it */
  int console_lfd = -1;
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, rep[2];
  if (S.tty) {
    snprintf(path, sizeof(path), "%s/console.sock", S.dir);
    console_lfd = listen_at(path);
  } else {
    if (S.want_stdin && pipe2(in, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
    fcntl(out[0], F_SETPIPE_SZ, PIPE_BYTES); /* best effort: the limit is fs.pipe-max-size */
    fcntl(err[0], F_SETPIPE_SZ, PIPE_BYTES);
  }
  if (pipe2(rep, O_CLOEXEC) < 0) die("pipe: %s", strerror(errno));
  if (S.log_path) {
    init_plain();
    S.log_fd = open(S.log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (S.log_fd < 0) die("open %s: %s", S.log_path, strerror(errno));
    struct stat st;
    if (fstat(S.log_fd, &st) == 0) S.log_size = st.st_size;
  }

  for (int k = 0; k < MAX_CLIENTS; k++) S.clients[k] = (struct client){.fd = -1, .ofd = -1, .dout = -1, .derr = -1};
  if (!S.tty) S.in_fd = in[1];
  /* --wait-attach: the process may not run before its client is connected (exec) */
  if (S.wait_attach) {
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) die("nobody attached");
    accept_client(lfd);
    while (S.clients[0].kind == C_HEADER) client_readable(&S.clients[0]);
  }
  pid_t exe = fork();
  if (exe < 0) die("fork: %s", strerror(errno));
  if (exe == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    int devnull = open("/dev/null", O_RDWR);
    dup2(S.tty ? devnull : in[0] >= 0 ? in[0] : devnull, 0);
    dup2(S.tty ? devnull : out[1], 1);
    dup2(S.tty ? devnull : err[1], 2);
    dup2(rep[1], 4); /* the executor reports to us; fd 3 (the plan) is berthd's */
    if (S.exec_fd >= 0) { /* the executor is this (sealed) file; it closes as it runs */
      fcntl(S.exec_fd, F_SETFD, FD_CLOEXEC);
      fexecve(S.exec_fd, argv + i, environ);
      _exit(127);
    }
    execv(argv[i], argv + i);
    _exit(127);
  }
  close(3);
  if (S.exec_fd >= 0) close(S.exec_fd);
  close(rep[1]);
  if (!S.tty) {
    if (in[0] >= 0) close(in[0]);
    close(out[1]);
    close(err[1]);
    S.out_fd = out[0];
    S.err_fd = err[0];
  }
  /* the executor's report goes on to berthd, on our stdout */
  FILE *report = fdopen(rep[0], "r");
  char line[1300];
  int exe_status = -1;
  while (fgets(line, sizeof(line), report)) {
    write_all(1, line, strlen(line));
    if (strncmp(line, "pid ", 4) == 0) S.init = (pid_t)atoi(line + 4);
  }
  fclose(report);
  /* the executor has finished (its report closed); reap it */
  while (waitpid(exe, &exe_status, 0) < 0 && errno == EINTR) {}
  if (S.init <= 0 || !WIFEXITED(exe_status) || WEXITSTATUS(exe_status) != 0) {
    if (S.init > 0) kill(S.init, SIGKILL);
    return 1;
  }
  if (S.tty) {
    struct pollfd p = {.fd = console_lfd, .events = POLLIN};
    if (poll(&p, 1, 10000) <= 0) {
      kill(S.init, SIGKILL);
      die("the container did not send its terminal");
    }
    int c = accept4(console_lfd, NULL, NULL, SOCK_CLOEXEC);
    int master = c >= 0 ? recv_fd(c) : -1;
    if (master < 0) {
      kill(S.init, SIGKILL);
      die("receive the terminal: %s", strerror(errno));
    }
    close(c);
    close(console_lfd);
    snprintf(path, sizeof(path), "%s/console.sock", S.dir);
    unlink(path);
    S.in_fd = S.out_fd = master;
  }
  /* berthd reads the report until EOF: close stdout now */
  int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
  dup2(devnull, 0);
  dup2(devnull, 1);
  if (S.out_fd >= 0) fcntl(S.out_fd, F_SETFL, fcntl(S.out_fd, F_GETFL) | O_NONBLOCK);
  if (S.err_fd >= 0) fcntl(S.err_fd, F_SETFL, fcntl(S.err_fd, F_GETFL) | O_NONBLOCK);

  int status = -1;
  for (;;) {
    struct pollfd p[5 + MAX_CLIENTS];
    int np = 0;
    p[np++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = lfd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = S.out_fd, .events = POLLIN};
    p[np++] = (struct pollfd){.fd = S.tty ? -1 : S.err_fd, .events = POLLIN};
    for (int k = 0; k < MAX_CLIENTS; k++)
      p[np++] = (struct pollfd){.fd = S.clients[k].kind == C_FREE ? -1 : S.clients[k].fd, .events = S.clients[k].eof ? 0 : POLLIN};
    p[np++] = (struct pollfd){.fd = __atomic_load_n(&C.pidfd, __ATOMIC_SEQ_CST), .events = POLLIN};
    int ready = poll(p, (nfds_t)np, buffers_held ? 1000 : -1);
    if (ready < 0 && errno != EINTR) die("poll: %s", strerror(errno));
    if (ready == 0) release_buffers();
    if (p[4 + MAX_CLIENTS].revents) compress_wait(); /* gzip has ended */
    if (p[2].revents && !pump_output(0, S.out_fd)) {
      if (!S.tty) close(S.out_fd); /* a pty gives EIO once every slave is closed; it stays open for stdin */
      S.out_fd = -1;
    }
    if (p[3].revents && !pump_output(1, S.err_fd)) {
      close(S.err_fd);
      S.err_fd = -1;
    }
    if (p[1].revents) accept_client(lfd);
    for (int k = 0; k < MAX_CLIENTS; k++)
      if (p[4 + k].revents && S.clients[k].kind != C_FREE) client_readable(&S.clients[k]);
    if (p[0].revents) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) == sizeof(si)) {}
      int st;
      pid_t r;
      while ((r = waitpid(-1, &st, WNOHANG)) > 0)
        if (r == S.init) status = st;
    }
    if (status != -1) break;
  }
  /* what the process wrote last is still in the pipes or the pty */
  for (int s = 0; s < 2; s++) {
    int fd = s ? S.err_fd : S.out_fd;
    if (s && S.tty) break;
    for (int rounds = 0; fd >= 0 && rounds < 4096; rounds++) {
      struct pollfd q = {.fd = fd, .events = POLLIN};
      if (poll(&q, 1, 0) <= 0 || !pump_output(s, fd)) break;
    }
  }
  log_flush();
  int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  write_exit(code);
  char msg[32];
  int n = snprintf(msg, sizeof(msg), "exit %d\n", code);
  for (int k = 0; k < MAX_CLIENTS; k++) {
    struct client *c = &S.clients[k];
    if (c->kind == C_WAIT) write_all(c->fd, msg, (size_t)n);
    if (c->kind != C_FREE) drop(c);
  }
  snprintf(path, sizeof(path), "%s/shim.sock", S.dir);
  unlink(path);
  compress_wait();
  for (int k = 0; k < 1000 && __atomic_load_n(&unlinks_pending, __ATOMIC_SEQ_CST) > 0; k++) usleep(10000);
  return 0;
}
