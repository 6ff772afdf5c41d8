/* A parsed plan (proto.h): records kept in order, looked up by tag. */
#ifndef BERTH_PLAN_H
#define BERTH_PLAN_H

#include "util.h"
#include <stdint.h>

struct plan_record {
  uint16_t tag;
  uint32_t len;
  const uint8_t *data;
};

struct plan {
  uint8_t *buf;
  size_t nrecords;
  struct plan_record *records;
};

/* Reads the plan from fd and checks its framing. */
int plan_read(int fd, struct plan *plan, struct berth_error **err);
void plan_free(struct plan *plan);
/* The first record with tag, or NULL. */
const struct plan_record *plan_find(const struct plan *plan, uint16_t tag);
uint32_t rec_u32(const struct plan_record *r, size_t off);
uint64_t rec_u64(const struct plan_record *r, size_t off);
/* A malloc'd NUL-terminated copy of the record's bytes from off. */
char *rec_str(const struct plan_record *r, size_t off);
/* Splits the record's bytes from off at NULs into at most max malloc'd strings; returns the count. */
size_t rec_strs(const struct plan_record *r, size_t off, char **out, size_t max);

#endif
