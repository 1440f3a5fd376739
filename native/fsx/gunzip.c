/* berth_fsx gunzip: a gzip stream inflated on the thread pool, and the sha256
 * of what comes out (a layer's diffID) taken in the same pass. Node's own
 * zlib stream inflates on the pool too, but hands every chunk back to the
 * event loop before it takes the next one, and the hash then runs there:
 * the loop that parses the tar was the bottleneck of a pull. zlib and
 * OpenSSL are Node's own (an addon links against the binary's symbols).
 * A stream may hold several gzip members, one after the other, as Go's
 * reader allows; anything else after a member is an error. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <openssl/evp.h>
#include <zlib.h>

#include "fsx.h"

struct gunzip {
  z_stream z;
  EVP_MD_CTX *sha;
  bool ended; /* the last member is complete and nothing came after it */
  bool busy, finished;
};

/* Output blocks: fixed, so nothing is copied to grow; a push stops taking input when they run out. */
#define BLOCK (256 << 10)
#define MAX_BLOCKS 64

/* Blocks freed by their Buffers wait here for the next push: a fresh block
 * costs a page fault for each of its pages, and faults are most of what
 * inflating cost on a VM. */
#define SPARE_MAX 64
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

struct push_job {
  napi_async_work work;
  napi_deferred done;
  napi_ref keep;
  struct gunzip *g;
  struct iovec *in;
  uint32_t nin;
  unsigned char *out[MAX_BLOCKS]; /* the output, in blocks of BLOCK bytes; the last one partly filled */
  uint32_t nout;
  size_t last_len, total, consumed; /* input taken: less than given when the blocks ran out */
  char error[160];
};

static void gunzip_free(napi_env env, void *data, void *hint) {
  struct gunzip *g = data;
  inflateEnd(&g->z);
  EVP_MD_CTX_free(g->sha);
  free(g);
}

/* gunzip(): a handle for gunzipPush and gunzipEnd */
static napi_value js_gunzip(napi_env env, napi_callback_info info) {
  struct gunzip *g = calloc(1, sizeof(*g));
  if (!g) { napi_throw_error(env, NULL, "gunzip: out of memory"); return NULL; }
  g->sha = EVP_MD_CTX_new();
  if (!g->sha || EVP_DigestInit_ex(g->sha, EVP_sha256(), NULL) != 1 || inflateInit2(&g->z, 16 + MAX_WBITS) != Z_OK) {
    EVP_MD_CTX_free(g->sha);
    free(g);
    napi_throw_error(env, NULL, "gunzip: cannot start zlib");
    return NULL;
  }
  napi_value v;
  CHECK(napi_create_external(env, g, gunzip_free, NULL, &v));
  return v;
}

static void push_run(napi_env env, void *data) {
  struct push_job *j = data;
  z_stream *z = &j->g->z;
  bool room = true;
  for (uint32_t i = 0; i < j->nin && !j->error[0] && room; i++) {
    z->next_in = j->in[i].iov_base;
    z->avail_in = (uInt)j->in[i].iov_len;
    while (z->avail_in > 0) {
      if (j->g->ended) { /* another member follows */
        inflateReset(z);
        j->g->ended = false;
      }
      if (!j->nout || j->last_len == BLOCK) {
        if (j->nout == MAX_BLOCKS) { room = false; break; } /* the rest goes in the next push */
        if (!(j->out[j->nout] = block_new())) { snprintf(j->error, sizeof(j->error), "gzip: out of memory"); break; }
        j->nout++;
        j->last_len = 0;
      }
      unsigned char *at = j->out[j->nout - 1] + j->last_len;
      z->next_out = at;
      z->avail_out = (uInt)(BLOCK - j->last_len);
      uInt before = z->avail_in;
      int r = inflate(z, Z_NO_FLUSH);
      size_t made = (size_t)(z->next_out - at);
      EVP_DigestUpdate(j->g->sha, at, made);
      j->last_len += made;
      j->total += made;
      j->consumed += before - z->avail_in;
      if (r == Z_STREAM_END) j->g->ended = true;
      else if ((r != Z_OK && r != Z_BUF_ERROR) || (made == 0 && z->avail_in == before)) {
        snprintf(j->error, sizeof(j->error), "gzip: %s", z->msg ? z->msg : "invalid data");
        break;
      }
    }
  }
}

static void free_output(napi_env env, void *data, void *hint) { block_free(data); }

static void push_done(napi_env env, napi_status status, void *data) {
  struct push_job *j = data;
  napi_value v, m, b;
  uint32_t kept = 0;
  j->g->busy = false;
  if (j->error[0]) {
    napi_create_string_utf8(env, j->error, NAPI_AUTO_LENGTH, &m);
    napi_create_error(env, NULL, m, &v);
    napi_reject_deferred(env, j->done, v);
  } else {
    uint32_t full = j->nout && !j->last_len ? j->nout - 1 : j->nout; /* a last block left empty is not handed out */
    napi_create_array_with_length(env, full, &v);
    for (; kept < full; kept++) {
      napi_create_external_buffer(env, kept + 1 == j->nout ? j->last_len : BLOCK, j->out[kept], free_output, NULL, &b);
      napi_set_element(env, v, kept, b);
    }
    napi_create_double(env, (double)j->consumed, &m);
    napi_set_named_property(env, v, "consumed", m);
    napi_resolve_deferred(env, j->done, v);
  }
  for (uint32_t i = kept; i < j->nout; i++) block_free(j->out[i]);
  napi_delete_reference(env, j->keep);
  napi_delete_async_work(env, j->work);
  free(j->in);
  free(j);
}

static struct gunzip *handle_arg(napi_env env, napi_value v) {
  void *g = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external || napi_get_value_external(env, v, &g) != napi_ok) return NULL;
  return g;
}

/* gunzipPush(handle, inputs: Buffer[]): a promise of the bytes they inflate to, in blocks, with
 * .consumed, the input bytes taken (fewer than given when the output would pass MAX_BLOCKS) */
static napi_value js_gunzip_push(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2], promise, name;
  uint32_t n;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct gunzip *g = argc == 2 ? handle_arg(env, argv[0]) : NULL;
  if (!g) { napi_throw_type_error(env, NULL, "gunzipPush(handle, inputs: Buffer[])"); return NULL; }
  if (g->busy || g->finished) { napi_throw_error(env, NULL, "gunzipPush: the last push has not finished, or the stream has ended"); return NULL; }
  struct iovec *in = fsx_buffers(env, argv[1], &n, "gunzipPush(handle, inputs: Buffer[])");
  if (!in) return NULL;
  struct push_job *j = calloc(1, sizeof(*j));
  if (!j) { free(in); napi_throw_error(env, NULL, "gunzipPush: out of memory"); return NULL; }
  j->g = g;
  j->in = in;
  j->nin = n;
  napi_value keep; /* the handle and the inputs, alive until the job ends */
  CHECK(napi_create_array_with_length(env, 2, &keep));
  napi_set_element(env, keep, 0, argv[0]);
  napi_set_element(env, keep, 1, argv[1]);
  CHECK(napi_create_reference(env, keep, 1, &j->keep));
  CHECK(napi_create_promise(env, &j->done, &promise));
  napi_create_string_utf8(env, "berth_gunzip", NAPI_AUTO_LENGTH, &name);
  CHECK(napi_create_async_work(env, NULL, name, push_run, push_done, j, &j->work));
  CHECK(napi_queue_async_work(env, j->work));
  g->busy = true;
  return promise;
}

/* gunzipEnd(handle): the hex sha256 of all the output; throws when the stream stopped inside a member */
static napi_value js_gunzip_end(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], v;
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  struct gunzip *g = argc == 1 ? handle_arg(env, argv[0]) : NULL;
  if (!g || g->busy || g->finished) { napi_throw_type_error(env, NULL, "gunzipEnd(handle), once, after the last push"); return NULL; }
  if (!g->ended) { napi_throw_error(env, NULL, "gzip: unexpected end of file"); return NULL; }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  char hex[2 * EVP_MAX_MD_SIZE + 1];
  g->finished = true;
  EVP_DigestFinal_ex(g->sha, md, &len);
  for (unsigned int i = 0; i < len; i++) snprintf(hex + 2 * i, 3, "%02x", md[i]);
  CHECK(napi_create_string_utf8(env, hex, 2 * len, &v));
  return v;
}

void fsx_register_gunzip(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"gunzip", NULL, js_gunzip, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gunzipPush", NULL, js_gunzip_push, NULL, NULL, NULL, napi_enumerable, NULL},
      {"gunzipEnd", NULL, js_gunzip_end, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
}
