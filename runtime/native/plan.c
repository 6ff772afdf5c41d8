/* See plan.h and proto.h. */
#define _GNU_SOURCE
#include "plan.h"
#include "proto.h"

#include <errno.h>
#include <string.h>

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int plan_read(int fd, struct plan *plan, struct berth_error **err) {
  size_t len = 0;
  memset(plan, 0, sizeof(*plan));
  if (read_all(fd, BERTH_PLAN_MAX, &plan->buf, &len) < 0)
    return berth_fail(err, errno, "plan", "read the plan from fd %d", fd);
  if (len < 8 || memcmp(plan->buf, BERTH_PLAN_MAGIC, 4) != 0)
    return berth_fail(err, EINVAL, "plan", "the plan does not start with " BERTH_PLAN_MAGIC);
  if (le32(plan->buf + 4) != BERTH_PLAN_VERSION)
    return berth_fail(err, EINVAL, "plan", "plan version %u, this helper speaks %d", le32(plan->buf + 4),
                      BERTH_PLAN_VERSION);
  size_t cap = 64;
  plan->records = calloc(cap, sizeof(*plan->records));
  if (plan->records == NULL) return berth_fail(err, ENOMEM, "plan", "allocate the plan");
  size_t off = 8;
  for (;;) {
    if (len - off < 8) return berth_fail(err, EINVAL, "plan", "the plan is truncated at byte %zu", off);
    uint16_t tag = (uint16_t)(plan->buf[off] | plan->buf[off + 1] << 8);
    uint32_t rlen = le32(plan->buf + off + 4);
    off += 8;
    if (rlen > len - off)
      return berth_fail(err, EINVAL, "plan", "record %u at byte %zu overruns the plan", tag, off - 8);
    if (tag == PLAN_END) return 0;
    if (tag >= PLAN_TAG_MAX) return berth_fail(err, EINVAL, "plan", "unknown record %u", tag);
    if (plan->nrecords == cap) {
      cap *= 2;
      struct plan_record *grown = realloc(plan->records, cap * sizeof(*grown));
      if (grown == NULL) return berth_fail(err, ENOMEM, "plan", "allocate the plan");
      plan->records = grown;
    }
    plan->records[plan->nrecords++] = (struct plan_record){.tag = tag, .len = rlen, .data = plan->buf + off};
    off += rlen;
  }
}

void plan_free(struct plan *plan) {
  free(plan->records);
  free(plan->buf);
  memset(plan, 0, sizeof(*plan));
}

const struct plan_record *plan_find(const struct plan *plan, uint16_t tag) {
  for (size_t i = 0; i < plan->nrecords; i++)
    if (plan->records[i].tag == tag) return &plan->records[i];
  return NULL;
}

uint32_t rec_u32(const struct plan_record *r, size_t off) {
  return off + 4 <= r->len ? le32(r->data + off) : 0;
}

uint64_t rec_u64(const struct plan_record *r, size_t off) {
  return off + 8 <= r->len ? (uint64_t)le32(r->data + off) | (uint64_t)le32(r->data + off + 4) << 32 : 0;
}

char *rec_str(const struct plan_record *r, size_t off) {
  size_t n = off <= r->len ? r->len - off : 0;
  char *s = malloc(n + 1);
  if (s == NULL) return NULL;
  memcpy(s, r->data + off, n);
  s[n] = '\0';
  return s;
}

size_t rec_strs(const struct plan_record *r, size_t off, char **out, size_t max) {
  size_t count = 0;
  while (count < max) {
    size_t start = off;
    while (off < r->len && r->data[off] != '\0')
      off++;
    char *s = malloc(off - start + 1);
    if (s == NULL) break;
    memcpy(s, r->data + start, off - start);
    s[off - start] = '\0';
    out[count++] = s;
    if (off >= r->len) break;
    off++; /* the NUL */
  }
  return count;
}
