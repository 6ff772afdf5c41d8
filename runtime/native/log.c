/* See log.h. */
#define _GNU_SOURCE
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int log_open(struct log_file *log, const char *path, uint64_t max_size, unsigned max_files) {
  snprintf(log->path, sizeof(log->path), "%s", path);
  log->max_size = max_size;
  log->max_files = max_files == 0 ? 1 : max_files;
  log->fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log->fd < 0) return -1;
  struct stat st;
  log->size = fstat(log->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
  return 0;
}

static void rotate(struct log_file *log) {
  char from[4200], to[4200];
  close(log->fd);
  if (log->max_files > 1) {
    for (unsigned i = log->max_files - 1; i >= 1; i--) {
      if (i == 1)
        snprintf(from, sizeof(from), "%s", log->path);
      else
        snprintf(from, sizeof(from), "%s.%u", log->path, i - 1);
      snprintf(to, sizeof(to), "%s.%u", log->path, i);
      rename(from, to);
    }
  }
  log->fd = open(log->path, O_WRONLY | O_CREAT | O_APPEND | O_TRUNC | O_CLOEXEC, 0640);
  log->size = 0;
}

static void entry(struct log_file *log, const char *stream, const char *data, size_t len) {
  static char line[LOG_LINE_MAX * 6 + 256];
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = (size_t)snprintf(line, sizeof(line), "{\"log\":\"");
  json_escape(line, sizeof(line), &n, data, len);
  n += (size_t)snprintf(line + n, sizeof(line) - n,
                        "\",\"stream\":\"%s\",\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\"}\n", stream,
                        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
  if (n >= sizeof(line)) return;
  if (log->fd < 0) return;
  if (log->max_size > 0 && log->size > 0 && log->size + n > log->max_size) rotate(log);
  if (log->fd >= 0 && write_all(log->fd, line, n) == 0) log->size += n;
}

void log_write(struct log_file *log, struct log_stream *s, const char *data, size_t len) {
  while (len > 0) {
    const char *nl = memchr(data, '\n', len);
    size_t take = nl ? (size_t)(nl - data) + 1 : len;
    if (take > sizeof(s->buf) - s->len) take = sizeof(s->buf) - s->len;
    memcpy(s->buf + s->len, data, take);
    s->len += take;
    data += take;
    len -= take;
    if (s->buf[s->len - 1] == '\n' || s->len == sizeof(s->buf)) {
      entry(log, s->name, s->buf, s->len);
      s->len = 0;
    }
  }
}

void log_flush(struct log_file *log, struct log_stream *s) {
  if (s->len > 0) entry(log, s->name, s->buf, s->len);
  s->len = 0;
}

void log_close(struct log_file *log) {
  if (log->fd >= 0) close(log->fd);
  log->fd = -1;
}
