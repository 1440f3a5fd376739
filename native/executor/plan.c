/* Decoding of the plan wire format described in plan.h. The buffer is kept
 * alive for the life of the process; arguments point into a copy of it in
 * which every argument is followed by a NUL. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reader {
  const unsigned char *p, *end;
};

static int rd_u16(struct reader *r, uint16_t *v) {
  if (r->end - r->p < 2) return -1;
  *v = (uint16_t)(r->p[0] | (r->p[1] << 8));
  r->p += 2;
  return 0;
}

static int rd_u32(struct reader *r, uint32_t *v) {
  if (r->end - r->p < 4) return -1;
  *v = (uint32_t)r->p[0] | ((uint32_t)r->p[1] << 8) | ((uint32_t)r->p[2] << 16) | ((uint32_t)r->p[3] << 24);
  r->p += 4;
  return 0;
}

static int decode_section(struct reader *r, struct plan_section *s, char *err, size_t errlen) {
  if (rd_u32(r, &s->count) < 0 || s->count > 100000) {
    snprintf(err, errlen, "plan: bad section length");
    return -1;
  }
  s->ops = calloc(s->count ? s->count : 1, sizeof(struct plan_op));
  if (!s->ops) return -1;
  for (uint32_t i = 0; i < s->count; i++) {
    struct plan_op *op = &s->ops[i];
    if (rd_u16(r, &op->code) < 0 || rd_u16(r, &op->argc) < 0) {
      snprintf(err, errlen, "plan: truncated op %u", i);
      return -1;
    }
    if (op->code == 0 || op->code >= OP_MAX) {
      snprintf(err, errlen, "plan: unknown op code %u", op->code);
      return -1;
    }
    op->argv = calloc(op->argc + 1u, sizeof(char *));
    op->argl = calloc(op->argc + 1u, sizeof(uint32_t));
    if (!op->argv || !op->argl) return -1;
    for (uint16_t a = 0; a < op->argc; a++) {
      uint32_t len;
      if (rd_u32(r, &len) < 0 || (size_t)(r->end - r->p) < len) {
        snprintf(err, errlen, "plan: truncated argument %u of op %u", a, op->code);
        return -1;
      }
      char *copy = malloc(len + 1u);
      if (!copy) return -1;
      memcpy(copy, r->p, len);
      copy[len] = 0;
      op->argv[a] = copy;
      op->argl[a] = len;
      r->p += len;
    }
  }
  return 0;
}

int plan_decode(const char *buf, size_t len, struct plan *out, char *err, size_t errlen) {
  struct reader r = {(const unsigned char *)buf, (const unsigned char *)buf + len};
  uint32_t version, lo, hi;
  memset(out, 0, sizeof(*out));
  if (len < 8 || memcmp(buf, PLAN_MAGIC, 8) != 0) {
    snprintf(err, errlen, "plan: bad magic");
    return -1;
  }
  r.p += 8;
  if (rd_u32(&r, &version) < 0 || version != PLAN_VERSION) {
    snprintf(err, errlen, "plan: unsupported version");
    return -1;
  }
  if (rd_u32(&r, &lo) < 0 || rd_u32(&r, &hi) < 0) {
    snprintf(err, errlen, "plan: truncated header");
    return -1;
  }
  out->clone_flags = ((uint64_t)hi << 32) | lo;
  if (decode_section(&r, &out->pre, err, errlen) < 0) return -1;
  if (decode_section(&r, &out->parent, err, errlen) < 0) return -1;
  if (decode_section(&r, &out->child, err, errlen) < 0) return -1;
  if (r.p != r.end) {
    snprintf(err, errlen, "plan: %zu trailing bytes", (size_t)(r.end - r.p));
    return -1;
  }
  return 0;
}
