/* Shared plumbing of berth-helper and berth-monitor: errors that name the failing call and
 * its object (STYLE.md §7), cleanup attributes, whole reads and writes, JSON strings. */
#ifndef BERTH_UTIL_H
#define BERTH_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct berth_error {
  int errnum;        /* errno of the failing call, 0 when none applies */
  char stage[32];    /* the plan step that failed: "mount", "exec", ... */
  char message[512]; /* "open `/proc/self/ns/net`: Permission denied" */
};

/* Fills *err (allocating it) and returns -1. The message gets ": strerror(errnum)" when
 * errnum is not 0. Context added later is prepended with berth_error_prefix. */
int berth_fail(struct berth_error **err, int errnum, const char *stage, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prepends "context: " to an existing error's message; returns -1. */
int berth_error_prefix(struct berth_error **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline void berth_freep(void *p) {
  free(*(void **)p);
}
static inline void berth_closep(int *fd) {
  if (*fd >= 0) close(*fd);
}
#define cleanup_free __attribute__((cleanup(berth_freep)))
#define cleanup_close __attribute__((cleanup(berth_closep)))
#define cleanup_error __attribute__((cleanup(berth_freep)))

/* write(2) until done, retrying EINTR; 0 or -1 with errno. */
int write_all(int fd, const void *buf, size_t len);
/* Reads the whole fd into a malloc'd buffer (at most max bytes); 0 or -1 with errno. */
int read_all(int fd, size_t max, uint8_t **out, size_t *out_len);
/* Appends s as a JSON string body (escaped, without quotes) to buf of size cap at *len. */
void json_escape(char *buf, size_t cap, size_t *len, const char *s, size_t slen);
/* Writes one JSON line {"type":"error","stage":..,"errno":..,"message":..} to fd. */
void report_error(int fd, const struct berth_error *err);
/* Sends fd over a unix socket (SCM_RIGHTS); receives one (-1 with errno on failure). */
int send_fd(int sock, int fd);
int recv_fd(int sock);
/* Reads an fd number from the environment variable name; -1 when unset or invalid. */
int env_fd(const char *name);
/* Closes every fd from 3 up but the n in keep (entries below 3 are ignored): what a
 * process that is about to enter a container must not hold (CVE-2024-21626). */
int close_fds_except(const int *keep, size_t n, struct berth_error **err);

#endif
