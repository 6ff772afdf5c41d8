/* berth-monitor: the container's exit (see monitor.h): reaping, the OOM count, exit.json
 * and the exit command. */
#define _GNU_SOURCE
#include "monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

unsigned long long oom_kills(const char *oom_file) {
  if (oom_file == NULL) return 0;
  char buf[512];
  cleanup_close int fd = open(oom_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  for (char *line = buf; line != NULL && *line != '\0';) {
    if (strncmp(line, "oom_kill ", 9) == 0) return strtoull(line + 9, NULL, 10);
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return 0;
}

void on_child_exit(struct monitor *m) {
  struct signalfd_siginfo si;
  while (read(m->sfd, &si, sizeof(si)) > 0)
    ;
  int st;
  pid_t w;
  while ((w = waitpid(-1, &st, WNOHANG)) > 0)
    if (w == m->container) {
      m->exited = true;
      m->status = st;
    }
}

/* exit.json, atomically: written to a temporary file, synced, then renamed. */
static int write_exit(const struct monitor *m, struct berth_error **err) {
  int code = WIFEXITED(m->status) ? WEXITSTATUS(m->status) : 128 + WTERMSIG(m->status);
  int sig = WIFSIGNALED(m->status) ? WTERMSIG(m->status) : 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\","
                   "\"oomKilled\":%s}\n",
                   code, sig, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec, oom_kills(m->opts.oom_file) > m->oom_kills_at_start ? "true" : "false");
  cleanup_close int fd = open("exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return berth_fail(err, errno, "exit", "open `exit.json.tmp`");
  if (write_all(fd, buf, (size_t)n) < 0) return berth_fail(err, errno, "exit", "write `exit.json.tmp`");
  if (fsync(fd) < 0) return berth_fail(err, errno, "exit", "fsync `exit.json.tmp`");
  int closing = fd;
  fd = -1;
  if (close(closing) < 0) return berth_fail(err, errno, "exit", "close `exit.json.tmp`");
  if (rename("exit.json.tmp", "exit.json") < 0)
    return berth_fail(err, errno, "exit", "rename `exit.json.tmp` to `exit.json`");
  return 0;
}

/* Closes every attach client, saying whether one was still there: a client that only ended
 * its input is still there; one that went away hangs up. */
static bool close_clients(struct monitor *m) {
  bool attached = false;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (m->clients[i] < 0) continue;
    struct pollfd pf = {.fd = m->clients[i], .events = POLLOUT};
    if (poll(&pf, 1, 0) >= 0 && !(pf.revents & (POLLHUP | POLLERR))) attached = true;
    close(m->clients[i]);
    m->clients[i] = -1;
  }
  return attached;
}

/* Forks the exit command, detached, its stdio /dev/null; the monitor does not wait for it. */
static void run_exit_command(const struct monitor_options *opts) {
  if (opts->exit_argc == 0) return;
  pid_t pid = fork();
  if (pid != 0) return;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  setsid();
  execve(opts->exit_argv[0], (char **)opts->exit_argv, environ);
  _exit(127);
}

void monitor_finish(struct monitor *m) {
  log_flush(&m->log, &m->out);
  log_flush(&m->log, &m->errs);
  log_close(&m->log);
  struct berth_error *err = NULL;
  if (write_exit(m, &err) < 0) monitor_warn(&err);
  /* A client still attached when the container ends (a foreground `run --rm`) takes care of
   * what comes after; the exit command is for containers nobody is waiting on. */
  bool attached = close_clients(m);
  unlink("attach");
  unlink("ctl");
  if (!attached) run_exit_command(&m->opts);
}
