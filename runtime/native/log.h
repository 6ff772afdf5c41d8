/* Container logs in docker's json-file format (one JSON object per line:
 * {"log":"...\n","stream":"stdout","time":"RFC 3339 with nanoseconds"}), with docker's
 * rotation: when the file would pass max_size bytes, log.N-1 becomes log.N ... log becomes
 * log.1, keeping max_files files in all. Lines longer than 16 KiB are split, the parts
 * without their "\n", as docker splits them. */
#ifndef BERTH_LOG_H
#define BERTH_LOG_H

#include <stddef.h>
#include <stdint.h>

#define LOG_LINE_MAX (16 * 1024)

struct log_stream {
  const char *name; /* "stdout" or "stderr" */
  char buf[LOG_LINE_MAX];
  size_t len;
};

struct log_file {
  char path[4096];
  int fd;
  uint64_t size;
  uint64_t max_size; /* 0: no rotation */
  unsigned max_files;
};

int log_open(struct log_file *log, const char *path, uint64_t max_size, unsigned max_files);
/* Appends data, writing an entry for each complete line and for a full buffer. */
void log_write(struct log_file *log, struct log_stream *stream, const char *data, size_t len);
/* Writes what is left of a partial line (at EOF). */
void log_flush(struct log_file *log, struct log_stream *stream);
void log_close(struct log_file *log);

#endif
