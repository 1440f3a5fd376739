/* berth-shim's log file: entries handed to a writer thread, rotated by
 * size (LOG, LOG.1, ...), rotated files gzipped (--log-compress) and
 * deleted off the output path. */
#include "shim.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

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

void log_compress_wait(void) {
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
  log_compress_wait(); /* the last rotated file is LOG.1.gz before the names shift */
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
void log_drain(void) {
  pthread_mutex_lock(&W.mu);
  while (W.busy) pthread_cond_wait(&W.cv, &W.mu);
  pthread_mutex_unlock(&W.mu);
}

void log_write(void) {
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

char *log_reserve(size_t need) {
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

void log_advance(const char *end) { olen = (size_t)(end - obuf); }

void log_release(void) {
  pthread_mutex_lock(&W.mu);
  free(W.buf);
  W.buf = NULL;
  W.cap = 0;
  pthread_mutex_unlock(&W.mu);
  free(obuf);
  obuf = NULL;
  ocap = 0;
}

int log_compressor_fd(void) { return __atomic_load_n(&C.pidfd, __ATOMIC_SEQ_CST); }

void log_finish(void) {
  log_compress_wait();
  for (int k = 0; k < 1000 && __atomic_load_n(&unlinks_pending, __ATOMIC_SEQ_CST) > 0; k++) usleep(10000);
}
