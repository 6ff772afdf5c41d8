/* berth-monitor: creating the container (see monitor.h). It forks berth-helper, or another
 * OCI runtime's create command, with the container's stdio, hands it the plan, and sends
 * berth the one reply line: the helper's own, or one made from the runtime's status, its
 * pid file and its log. With a tty it then takes the container's pty master. */
#define _GNU_SOURCE
#include "monitor.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* One JSON line for berth (proto.h). */
struct reply {
  char line[2048];
  size_t len;
};

static int exit_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void setenv_fd(const char *name, int fd) {
  char v[16];
  snprintf(v, sizeof(v), "%d", fd);
  setenv(name, v, 1);
}

/* In the forked child: the container's stdio become its own, the plan and the reply pipe
 * are passed on under new numbers (the old ones are close-on-exec), and it becomes
 * berth-helper or the runtime's create. */
static void __attribute__((noreturn)) exec_child(const struct monitor *m, int reply_w) {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_UNBLOCK, &mask, NULL);
  signal(SIGPIPE, SIG_DFL);
  if (dup2(m->child_in, 0) < 0 || dup2(m->child_out, 1) < 0 || dup2(m->child_err, 2) < 0) _exit(BERTH_HELPER_FAILED);
  if (m->console[1] >= 0) setenv_fd(BERTH_ENV_CONSOLE_FD, fcntl(m->console[1], F_DUPFD, 3));
  int keep_plan = fcntl(m->plan_fd, F_DUPFD, 3);
  int keep_reply = fcntl(reply_w, F_DUPFD, 3);
  setenv_fd(BERTH_ENV_PLAN_FD, keep_plan);
  setenv_fd(BERTH_ENV_REPLY_FD, keep_reply);
  if (m->opts.runtime_argc > 0) {
    /* The runtime replies by its status and pid file (runtime_reply says why it failed,
     * 127 here); the container must not hold the pipes. */
    fcntl(keep_reply, F_SETFD, FD_CLOEXEC);
    fcntl(keep_plan, F_SETFD, FD_CLOEXEC);
    execve(m->opts.runtime_argv[0], (char **)m->opts.runtime_argv, environ);
    _exit(127);
  }
  execle(m->opts.helper, "berth-helper", (char *)NULL, environ);
  struct berth_error *err = NULL;
  berth_fail(&err, errno, "helper", "exec the helper `%s`", m->opts.helper);
  report_error(keep_reply, err);
  _exit(BERTH_HELPER_FAILED);
}

/* The last "msg" of the runtime's JSON log (--runtime-log), unescaped; "" without one. */
static void runtime_log_message(const char *path, char *msg, size_t cap) {
  char buf[4096];
  msg[0] = '\0';
  cleanup_close int fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) return;
  off_t size = lseek(fd, 0, SEEK_END);
  off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
  ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
  buf[n > 0 ? n : 0] = '\0';
  char *last = NULL;
  for (char *q = strstr(buf, "\"msg\":\""); q != NULL; q = strstr(q + 1, "\"msg\":\""))
    last = q + 7;
  if (last == NULL) return;
  size_t i = 0;
  for (char *q = last; *q && *q != '"' && i < cap - 1; q++) {
    if (*q == '\\' && q[1]) q++;
    msg[i++] = *q;
  }
  msg[i] = '\0';
}

/* After another runtime's create: the reply berth-helper would have given, from the
 * runtime's status, its pid file and the last message of its log. */
static void runtime_reply(const struct monitor_options *opts, int status, struct reply *reply) {
  int code = exit_code(status);
  if (code == 0) {
    char buf[64] = {0};
    cleanup_close int fd = open(opts->runtime_pid_file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (n > 0 && atoi(buf) > 0) {
      reply->len = (size_t)snprintf(reply->line, sizeof(reply->line), "{\"type\":\"created\",\"pid\":%d}\n", atoi(buf));
      return;
    }
  }
  char msg[1024], esc[1200], name[256];
  size_t elen = 0, nlen = 0;
  runtime_log_message(opts->runtime_log, msg, sizeof(msg));
  esc[0] = name[0] = '\0';
  json_escape(esc, sizeof(esc), &elen, msg, strlen(msg));
  json_escape(name, sizeof(name), &nlen, opts->runtime_argv[0], strlen(opts->runtime_argv[0]));
  reply->len = (size_t)snprintf(
      reply->line, sizeof(reply->line),
      "{\"type\":\"error\",\"stage\":\"runtime\",\"errno\":0,\"message\":\"%s create failed with status %d%s%s\"}\n",
      name, code, msg[0] ? ": " : "", esc);
  if (reply->len >= sizeof(reply->line)) reply->len = sizeof(reply->line) - 1;
}

/* Another runtime with a tty connects to the console socket and sends the pty master with
 * SCM_RIGHTS, its name as the payload (runc docs/terminals.md), before its create exits.
 * Waits for it only while the runtime runs, which a pidfd tells: a runtime that failed or
 * exited without sending it gives -1 with errno. The runtime is not reaped here. */
static int runtime_master(int listener, pid_t runtime) {
  int pidfd = (int)syscall(SYS_pidfd_open, runtime, 0);
  int conn = -1, master = -1, why = ENOTCONN;
  for (;;) {
    /* Looked at first: whatever it sent before it exited is queued by now. */
    siginfo_t si = {0};
    bool gone = waitid(P_PID, (id_t)runtime, &si, WEXITED | WNOHANG | WNOWAIT) < 0 || si.si_pid == runtime;
    if (conn < 0) conn = accept4(listener, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (conn >= 0) {
      if ((master = recv_fd(conn)) >= 0 || errno != EAGAIN) {
        why = errno;
        break;
      }
    }
    if (gone) break;
    struct pollfd fds[3] = {{.fd = conn < 0 ? listener : -1, .events = POLLIN},
                            {.fd = conn, .events = POLLIN},
                            {.fd = pidfd, .events = POLLIN}};
    /* Without pidfds (Linux < 5.3) it looks again every 50 ms. */
    if (poll(fds, 3, pidfd >= 0 ? -1 : 50) < 0 && errno != EINTR) {
      why = errno;
      break;
    }
  }
  if (conn >= 0) close(conn);
  if (pidfd >= 0) close(pidfd);
  errno = why;
  return master;
}

/* The reply when the runtime's create succeeded but sent no pty master. */
static void runtime_console_error(const struct monitor_options *opts, int errnum, struct reply *reply) {
  char name[256], sock[256];
  size_t nlen = 0, slen = 0;
  name[0] = sock[0] = '\0';
  json_escape(name, sizeof(name), &nlen, opts->runtime_argv[0], strlen(opts->runtime_argv[0]));
  json_escape(sock, sizeof(sock), &slen, opts->runtime_console, strlen(opts->runtime_console));
  reply->len =
      (size_t)snprintf(reply->line, sizeof(reply->line),
                       "{\"type\":\"error\",\"stage\":\"tty\",\"errno\":%d,\"message\":\"%s create sent no pty "
                       "master to the console socket `%s`: %s\"}\n",
                       errnum, name, sock, strerror(errnum));
  if (reply->len >= sizeof(reply->line)) reply->len = sizeof(reply->line) - 1;
}

/* The helper's reply: one line, or what came before the pipe's end. */
static void read_reply(int fd, struct reply *reply) {
  reply->len = 0;
  for (;;) {
    ssize_t n = read(fd, reply->line + reply->len, sizeof(reply->line) - 1 - reply->len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply->len += (size_t)n;
    if (reply->len == sizeof(reply->line) - 1 || memchr(reply->line, '\n', reply->len) != NULL) break;
  }
  reply->line[reply->len] = '\0';
}

/* Closes what only the helper needed; another runtime's console socket goes too, once it
 * has sent the pty master (or failed to): its errno is then in *console_errno. */
static void after_fork(struct monitor *m, pid_t helper, int *console_errno) {
  close(m->plan_fd);
  m->plan_fd = -1;
  if (m->child_in >= 0) close(m->child_in);
  if (!m->opts.tty) {
    close(m->child_out);
    close(m->child_err);
  }
  m->child_in = m->child_out = m->child_err = -1;
  if (m->console[1] >= 0) close(m->console[1]);
  m->console[1] = -1;
  *console_errno = 0;
  if (m->console_listener < 0) return;
  if ((m->master = runtime_master(m->console_listener, helper)) < 0) *console_errno = errno;
  close(m->console_listener);
  m->console_listener = -1;
  unlink(m->opts.runtime_console);
}

/* The container's pid from the reply, once the helper exited (with `status`); a reply
 * rewritten where another runtime ran, or where nothing came. */
static pid_t created_pid(struct monitor *m, int status, int console_errno, struct reply *reply) {
  pid_t container = -1;
  if (m->opts.runtime_argc > 0) runtime_reply(&m->opts, status, reply);
  const char *p = strstr(reply->line, "\"type\":\"created\",\"pid\":");
  if (p != NULL) container = (pid_t)atoi(p + strlen("\"type\":\"created\",\"pid\":"));
  if (container > 0 && m->opts.runtime_console != NULL && m->master < 0) {
    /* Created, but with nobody to hold its terminal: berth deletes it from the runtime. */
    runtime_console_error(&m->opts, console_errno, reply);
    kill(container, SIGKILL);
    container = -1;
  }
  if (reply->len == 0)
    reply->len = (size_t)snprintf(reply->line, sizeof(reply->line),
                                  "{\"type\":\"error\",\"stage\":\"helper\",\"errno\":0,\"message\":\"the helper "
                                  "exited with status %d without a reply\"}\n",
                                  exit_code(status));
  return container;
}

int monitor_create(struct monitor *m, struct berth_error **err) {
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) return berth_fail(err, errno, "monitor", "pipe for the helper's reply");
  pid_t helper = fork();
  if (helper < 0) {
    close(rp[0]);
    close(rp[1]);
    return berth_fail(err, errno, "monitor", "fork `%s`",
                      m->opts.runtime_argc > 0 ? m->opts.runtime_argv[0] : m->opts.helper);
  }
  if (helper == 0) exec_child(m, rp[1]);
  close(rp[1]);
  int console_errno;
  after_fork(m, helper, &console_errno);
  struct reply reply;
  read_reply(rp[0], &reply);
  close(rp[0]);
  int status = 0;
  while (waitpid(helper, &status, 0) < 0 && errno == EINTR)
    ;
  m->container = created_pid(m, status, console_errno, &reply);
  if (m->reply_fd >= 0) {
    write_all(m->reply_fd, reply.line, reply.len);
    close(m->reply_fd);
    m->reply_fd = -1;
  }
  if (m->container > 0 && m->console[0] >= 0 && (m->master = recv_fd(m->console[0])) < 0) {
    struct berth_error *warn = NULL;
    berth_fail(&warn, errno, "tty", "receive the pty from the container");
    monitor_warn(&warn);
    kill(m->container, SIGKILL);
  }
  if (m->console[0] >= 0) close(m->console[0]);
  m->console[0] = -1;
  return 0;
}
