/* berth_fsx gunzip: a gzip stream inflated on a thread of its own, with the
 * sha256 of what comes out (a layer's diffID) taken in the same pass. Node's
 * zlib stream inflates on the thread pool one chunk per trip through the
 * event loop, which in a pull also parses the tar: the trips, not the
 * inflating, were most of the time. This thread takes input as it is queued
 * and hands each block of output to the loop (a threadsafe function), pausing
 * while the loop has not taken MAX_UNACKED blocks. zlib and OpenSSL are
 * Node's own. Several gzip members in a row are one stream, as for Go. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "fsx.h"

#define BLOCK (256 << 10)
#define MAX_UNACKED 32 /* blocks handed out that the reader has not taken: 8 MiB */
#define SPARE_MAX 64

/* Blocks freed by their Buffers wait here for reuse: a fresh block costs a
 * page fault per page, and faults were most of what inflating cost on a VM. */
static void *spare[SPARE_MAX];
static int nspare;
static pthread_mutex_t spare_lock = PTHREAD_MUTEX_INITIALIZER;

static void *block_new(void) {
  void *b = NULL;
  pthread_mutex_lock(&spare_lock);
  if (nspare) b = spare[--nspare];
  pthread_mutex_unlock(&spare_lock);
  return b ? b : malloc(BLOCK);
}

static void block_free(void *b) {
  pthread_mutex_lock(&spare_lock);
  if (nspare < SPARE_MAX) { spare[nspare++] = b; b = NULL; }
  pthread_mutex_unlock(&spare_lock);
  free(b);
}

struct input { const unsigned char *p; size_t len; };

/* What the thread tells the loop: a block of output, the inputs it is done with, or the end. */
struct message { unsigned char *block; size_t len; uint32_t consumed; bool last; char text[160]; };

struct gunzip {
  pthread_t thread;
  pthread_mutex_t lock;
  pthread_cond_t wake;
  napi_threadsafe_function tsfn;
  /* under lock */
  struct input *in;
  uint32_t nin, cap, head; /* queued inputs; head: the first not yet finished */
  uint32_t unacked;
  bool ending, stop, started;
  /* the thread's own */
  z_stream z;
  EVP_MD_CTX *sha;
  bool member_done;
  unsigned char *block;
  size_t used;
  uint32_t done_inputs; /* finished since the last message */
};

static void send(struct gunzip *g, bool last, const char *text) {
  struct message *m = calloc(1, sizeof(*m));
  if (!m) return;
  m->block = g->used ? g->block : NULL;
  m->len = g->used;
  m->consumed = g->done_inputs;
  m->last = last;
  if (text) snprintf(m->text, sizeof(m->text), "%s", text);
  if (!m->block && g->block) block_free(g->block);
  g->block = NULL;
  g->used = 0;
  g->done_inputs = 0;
  if (m->block) {
    pthread_mutex_lock(&g->lock);
    g->unacked++;
    pthread_mutex_unlock(&g->lock);
  }
  napi_call_threadsafe_function(g->tsfn, m, napi_tsfn_blocking);
}

/* Inflates one input; 0, or -1 with the reason sent as the stream's end. */
static int inflate_input(struct gunzip *g, struct input in) {
  g->z.next_in = (unsigned char *)in.p;
  g->z.avail_in = (uInt)in.len;
  while (g->z.avail_in > 0) {
    if (g->member_done) { inflateReset(&g->z); g->member_done = false; } /* another member follows */
    if (!g->block && !(g->block = block_new())) { send(g, true, "gzip: out of memory"); return -1; }
    unsigned char *at = g->block + g->used;
    g->z.next_out = at;
    g->z.avail_out = (uInt)(BLOCK - g->used);
    uInt before = g->z.avail_in;
    int r = inflate(&g->z, Z_NO_FLUSH);
    size_t made = (size_t)(g->z.next_out - at);
    EVP_DigestUpdate(g->sha, at, made);
    g->used += made;
    if (r == Z_STREAM_END) g->member_done = true;
    else if ((r != Z_OK && r != Z_BUF_ERROR) || (made == 0 && g->z.avail_in == before)) {
      char text[160];
      snprintf(text, sizeof(text), "gzip: %s", g->z.msg ? g->z.msg : "invalid data");
      send(g, true, text);
      return -1;
    }
    if (g->used == BLOCK) {
      send(g, false, NULL);
      pthread_mutex_lock(&g->lock); /* the reader is behind: wait for it */
      while (g->unacked >= MAX_UNACKED && !g->stop) pthread_cond_wait(&g->wake, &g->lock);
      bool stop = g->stop;
      pthread_mutex_unlock(&g->lock);
      if (stop) return -1;
    }
  }
  return 0;
}

static void *run(void *arg) {
  struct gunzip *g = arg;
  for (;;) {
    pthread_mutex_lock(&g->lock);
    while (g->head == g->nin && !g->ending && !g->stop) {
      if (g->used || g->done_inputs) { /* nothing more yet: hand on what there is */
        pthread_mutex_unlock(&g->lock);
        send(g, false, NULL);
        pthread_mutex_lock(&g->lock);
        continue;
      }
      pthread_cond_wait(&g->wake, &g->lock);
    }
    bool stop = g->stop, end = g->head == g->nin && g->ending;
    struct input in = end || stop ? (struct input){0} : g->in[g->head];
    pthread_mutex_unlock(&g->lock);
    if (stop) break;
    if (end) {
      unsigned char md[EVP_MAX_MD_SIZE];
      unsigned int len = 0;
      char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
      EVP_DigestFinal_ex(g->sha, md, &len);
      for (unsigned int i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
      send(g, true, g->member_done ? hex : "gzip: unexpected end of file");
      break;
    }
    if (inflate_input(g, in) < 0) break;
    pthread_mutex_lock(&g->lock);
    g->head++;
    pthread_mutex_unlock(&g->lock);
    g->done_inputs++;
  }
  napi_release_threadsafe_function(g->tsfn, napi_tsfn_release);
  return NULL;
}

static void free_output(napi_env env, void *data, void *hint) { block_free(data); }

/* On the loop: callback(block | null, inputsDone, last, text) */
static void deliver(napi_env env, napi_value cb, void *context, void *data) {
  struct message *m = data;
  if (env && cb) {
    napi_value argv[4], undefined;
    if (m->block) napi_create_external_buffer(env, m->len, m->block, free_output, NULL, &argv[0]);
    else napi_get_null(env, &argv[0]);
    napi_create_uint32(env, m->consumed, &argv[1]);
    napi_get_boolean(env, m->last, &argv[2]);
    napi_create_string_utf8(env, m->text, NAPI_AUTO_LENGTH, &argv[3]);
    napi_get_undefined(env, &undefined);
    napi_call_function(env, undefined, cb, 4, argv, NULL);
  } else if (m->block) {
    block_free(m->block);
  }
  free(m);
}

static void finalize(napi_env env, void *data, void *hint) {
  struct gunzip *g = data;
  pthread_mutex_lock(&g->lock); /* a stream dropped without gunzipControl(2) */
  g->stop = true;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  if (g->started) pthread_join(g->thread, NULL);
  if (g->block) block_free(g->block);
  inflateEnd(&g->z);
  EVP_MD_CTX_free(g->sha);
  pthread_mutex_destroy(&g->lock);
  pthread_cond_destroy(&g->wake);
  free(g->in);
  free(g);
}

static struct gunzip *handle_arg(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  void *g = NULL;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < want || napi_get_value_external(env, argv[0], &g) != napi_ok) {
    napi_throw_type_error(env, NULL, "gunzip: bad handle");
    return NULL;
  }
  return g;
}

/* gunzipStart(callback): a handle; the thread runs until the end, an error or gunzipStop */
static napi_value js_gunzip_start(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value cb, name, handle;
  CHECK(napi_get_cb_info(env, info, &argc, &cb, NULL, NULL));
  struct gunzip *g = calloc(1, sizeof(*g));
  if (!g) { napi_throw_error(env, NULL, "gunzip: out of memory"); return NULL; }
  g->sha = EVP_MD_CTX_new();
  if (!g->sha || EVP_DigestInit_ex(g->sha, EVP_sha256(), NULL) != 1 || inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
    EVP_MD_CTX_free(g->sha);
    free(g);
    napi_throw_error(env, NULL, "gunzip: cannot start zlib");
    return NULL;
  }
  pthread_mutex_init(&g->lock, NULL);
  pthread_cond_init(&g->wake, NULL);
  napi_create_string_utf8(env, "berth_gunzip", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, NULL, NULL, NULL, deliver, &g->tsfn));
  CHECK(napi_create_external(env, g, finalize, NULL, &handle));
  g->started = pthread_create(&g->thread, NULL, run, g) == 0;
  if (!g->started) {
    napi_release_threadsafe_function(g->tsfn, napi_tsfn_abort);
    napi_throw_error(env, NULL, "gunzip: cannot start its thread");
    return NULL;
  }
  return handle;
}

/* gunzipWrite(handle, chunk): queued; the caller keeps chunk alive until the callback says it is done */
static napi_value js_gunzip_write(napi_env env, napi_callback_info info) {
  napi_value argv[2];
  struct gunzip *g = handle_arg(env, info, 2, argv);
  void *p;
  size_t len;
  if (!g || napi_get_buffer_info(env, argv[1], &p, &len) != napi_ok) return NULL;
  pthread_mutex_lock(&g->lock);
  if (g->nin == g->cap) {
    uint32_t cap = g->cap ? g->cap * 2 : 64;
    struct input *in = realloc(g->in, cap * sizeof(*in));
    if (!in) { pthread_mutex_unlock(&g->lock); napi_throw_error(env, NULL, "gunzip: out of memory"); return NULL; }
    g->in = in;
    g->cap = cap;
  }
  g->in[g->nin++] = (struct input){p, len};
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

/* gunzipControl(handle, what): 0 the input has ended, 1 the reader took n blocks (argv[2]), 2 stop now */
static napi_value js_gunzip_control(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  struct gunzip *g = handle_arg(env, info, 3, argv);
  int32_t what, n;
  if (!g || napi_get_value_int32(env, argv[1], &what) != napi_ok || napi_get_value_int32(env, argv[2], &n) != napi_ok) return NULL;
  pthread_mutex_lock(&g->lock);
  if (what == 0) g->ending = true;
  else if (what == 1) g->unacked = g->unacked > (uint32_t)n ? g->unacked - (uint32_t)n : 0;
  else g->stop = true;
  pthread_cond_signal(&g->wake);
  pthread_mutex_unlock(&g->lock);
  return NULL;
}

void fsx_register_gunzip(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gunzipStart", NULL, js_gunzip_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gunzipWrite", NULL, js_gunzip_write, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gunzipControl", NULL, js_gunzip_control, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
