/* See util.h. */
#define _GNU_SOURCE
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>

int berth_fail(struct berth_error **err, int errnum, const char *stage, const char *fmt, ...) {
  if (err == NULL) return -1;
  if (*err == NULL) *err = calloc(1, sizeof(**err));
  if (*err == NULL) return -1;
  struct berth_error *e = *err;
  e->errnum = errnum;
  snprintf(e->stage, sizeof(e->stage), "%s", stage);
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(e->message, sizeof(e->message), fmt, ap);
  va_end(ap);
  if (errnum != 0 && n >= 0 && (size_t)n < sizeof(e->message))
    snprintf(e->message + n, sizeof(e->message) - (size_t)n, ": %s", strerror(errnum));
  return -1;
}

int berth_error_prefix(struct berth_error **err, const char *fmt, ...) {
  if (err == NULL || *err == NULL) return -1;
  char prefix[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof(prefix), fmt, ap);
  va_end(ap);
  char old[sizeof((*err)->message)];
  memcpy(old, (*err)->message, sizeof(old));
  snprintf((*err)->message, sizeof((*err)->message), "%s: %s", prefix, old);
  return -1;
}

int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

int read_all(int fd, size_t max, uint8_t **out, size_t *out_len) {
  size_t cap = 4096, len = 0;
  uint8_t *buf = malloc(cap);
  if (buf == NULL) return -1;
  for (;;) {
    if (len == cap) {
      if (cap >= max) {
        free(buf);
        errno = EFBIG;
        return -1;
      }
      cap *= 2;
      uint8_t *grown = realloc(buf, cap);
      if (grown == NULL) {
        free(buf);
        return -1;
      }
      buf = grown;
    }
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0) {
      if (errno == EINTR) continue;
      free(buf);
      return -1;
    }
    if (n == 0) break;
    len += (size_t)n;
  }
  *out = buf;
  *out_len = len;
  return 0;
}

void json_escape(char *buf, size_t cap, size_t *len, const char *s, size_t slen) {
  static const char hex[] = "0123456789abcdef";
  for (size_t i = 0; i < slen; i++) {
    unsigned char c = (unsigned char)s[i];
    char tmp[7];
    size_t n = 0;
    if (c == '"' || c == '\\') {
      tmp[n++] = '\\';
      tmp[n++] = (char)c;
    } else if (c == '\n') {
      tmp[n++] = '\\';
      tmp[n++] = 'n';
    } else if (c == '\r') {
      tmp[n++] = '\\';
      tmp[n++] = 'r';
    } else if (c == '\t') {
      tmp[n++] = '\\';
      tmp[n++] = 't';
    } else if (c < 0x20 || c == 0x7f) {
      memcpy(tmp, "\\u00", 4);
      n = 4;
      tmp[n++] = hex[c >> 4];
      tmp[n++] = hex[c & 15];
    } else {
      tmp[n++] = (char)c;
    }
    if (*len + n >= cap) return;
    memcpy(buf + *len, tmp, n);
    *len += n;
  }
  buf[*len] = '\0';
}

void report_error(int fd, const struct berth_error *err) {
  if (fd < 0 || err == NULL) return;
  char line[1400];
  size_t len = (size_t)snprintf(line, sizeof(line), "{\"type\":\"error\",\"errno\":%d,\"stage\":\"", err->errnum);
  json_escape(line, sizeof(line), &len, err->stage, strlen(err->stage));
  len += (size_t)snprintf(line + len, sizeof(line) - len, "\",\"message\":\"");
  json_escape(line, sizeof(line), &len, err->message, strlen(err->message));
  len += (size_t)snprintf(line + len, sizeof(line) - len, "\"}\n");
  if (len >= sizeof(line)) len = sizeof(line) - 1;
  (void)write_all(fd, line, len);
}

int env_fd(const char *name) {
  const char *v = getenv(name);
  if (v == NULL || *v == '\0') return -1;
  char *end = NULL;
  errno = 0;
  long n = strtol(v, &end, 10);
  if (errno != 0 || *end != '\0' || n < 0 || n > 65535) return -1;
  return (int)n;
}

int send_fd(int sock, int fd) {
  char byte = 'T';
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  memset(&u, 0, sizeof(u));
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &fd, sizeof(int));
  return sendmsg(sock, &msg, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

int recv_fd(int sock) {
  char byte;
  struct iovec iov = {.iov_base = &byte, .iov_len = 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof(u.buf)};
  ssize_t n;
  do
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n <= 0) {
    if (n == 0) errno = EPIPE;
    return -1;
  }
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  if (c == NULL || c->cmsg_type != SCM_RIGHTS) {
    errno = EBADMSG;
    return -1;
  }
  int fd;
  memcpy(&fd, CMSG_DATA(c), sizeof(int));
  return fd;
}

int close_fds_except(const int *keep, size_t n, struct berth_error **err) {
  unsigned from = 3;
  /* Each round closes up to the lowest kept fd not below `from`: n rounds at most. */
  for (;;) {
    long next = -1;
    for (size_t i = 0; i < n; i++)
      if (keep[i] >= 0 && (unsigned)keep[i] >= from && (next < 0 || keep[i] < next)) next = keep[i];
    if (next < 0) break;
    if ((unsigned)next > from && syscall(SYS_close_range, from, (unsigned)next - 1, 0) < 0)
      return berth_fail(err, errno, "helper", "close_range %u-%ld", from, next - 1);
    from = (unsigned)next + 1;
  }
  if (syscall(SYS_close_range, from, ~0U, 0) < 0) return berth_fail(err, errno, "helper", "close_range %u-", from);
  return 0;
}
