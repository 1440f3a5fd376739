/* berth-shim's log entries: the process's output split into lines, each a
 * json-file entry ({"log":...,"stream":...,"time":...}, escaped as Go's
 * encoder escapes) or a local-format one (protobuf, framed by its length). */
#include "shim.h"
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

/* a line not yet ended, per stream */
static char partial[2][PARTIAL_MAX];

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

void log_init(void) {
  for (int c = 0x20; c < 0x80; c++) plain[c] = 1;
  plain['"'] = plain['\\'] = plain['<'] = plain['>'] = plain['&'] = 0;
}

static void log_entry_local(int stream, const unsigned char *p, size_t n);

/* One entry: {"log":"...","stream":"stdout","time":"RFC3339Nano"}. Bytes
 * that are not valid UTF-8 become U+FFFD, as Go's encoder does. */
static void log_entry(int stream, const unsigned char *p, size_t n) {
  if (S.log_local) {
    log_entry_local(stream, p, n);
    return;
  }
  char *o = log_reserve(n * 6 + 128);
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
  log_advance(o);
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
  char *frame = log_reserve(n + 64), *o = frame + 4;
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
  log_advance(o);
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
void log_output(int stream, const unsigned char *p, size_t n) {
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

void log_flush(void) {
  for (int s = 0; s < 2; s++)
    if (S.plen[s]) {
      stamp(s);
      log_entry(s, (unsigned char *)partial[s], S.plen[s]);
      S.plen[s] = 0;
    }
  log_write();
  log_drain();
}
