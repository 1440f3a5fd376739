/* berth-shim's shared state and the duties its files hold (see main.c for
 * what the shim is):
 *   main.c       arguments, the executor's start, the event loop, the exit record
 *   clients.c    shim.sock: attach, resize and wait requests, output to clients
 *   log-entry.c  output as log entries: json-file's JSON, docker's local format
 *   log-file.c   the log file: a writer thread, rotation, gzip, late unlinks */
#ifndef BERTH_SHIM_H
#define BERTH_SHIM_H
#include "../common/io.h"
#include <stddef.h>
#include <sys/types.h>

#define MAX_CLIENTS 64
#define PARTIAL_MAX 16384 /* docker splits log lines longer than this */
/* Output pipes are this large (the default is 64 KiB) and read whole: every
 * wake-up of the shim or the writer costs more than the copy on a VM. */
#define PIPE_BYTES (1 << 20)

enum { C_FREE, C_HEADER, C_ATTACH, C_WAIT };
struct client {
  int fd, kind, in, out, err, eof; /* eof: the client closed its writing side */
  int raw; /* output without stdcopy frames */
  int ofd; /* output goes here when berthd handed over the client's own connection, else to fd */
  int dout, derr; /* or as it is to these: the client's own stdout and stderr */
  char hdr[128];
  size_t hlen;
};

struct shim_state {
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
};
extern struct shim_state S;

__attribute__((noreturn, format(printf, 1, 2))) void die(const char *fmt, ...);

/* log-file.c */
char *log_reserve(size_t need); /* room for `need` more bytes of entries; where they go */
void log_advance(const char *end); /* the entries written so far end at `end` */
void log_write(void); /* hands the gathered entries to the writer */
void log_drain(void); /* waits until the writer has written them */
void log_release(void); /* frees the entry buffers (after log_drain) */
int log_compressor_fd(void); /* a pidfd while a rotated file is gzipped, else -1 */
void log_compress_wait(void); /* reaps the compressor */
void log_finish(void); /* waits for the compressor and the late unlinks */

/* log-entry.c */
void log_init(void);
void log_output(int stream, const unsigned char *p, size_t n);
void log_flush(void);

/* clients.c */
extern int buffers_held; /* the read buffer or the log's buffers hold pages */
ssize_t recv_with_fds(int sock, void *buf, size_t len, int *fds, int max, int *nfds);
void accept_client(int lfd);
void client_readable(struct client *c);
void drop(struct client *c);
int pump_output(int stream, int fd);
void release_buffers(void);
#endif
