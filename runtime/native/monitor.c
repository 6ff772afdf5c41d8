/* berth-monitor: stays with one container for its whole life, as conmon does for podman.
 * Started detached by berth; it becomes a subreaper, holds the container's stdio (pipes,
 * or a pty with -t), runs berth-helper to create the container, forwards the helper's
 * reply to berth, then logs the output in json-file form, serves attach clients on a unix
 * socket, records the exit status atomically and runs the exit command.
 *
 * Usage: berth-monitor --dir DIR --helper PATH --log PATH [--log-max-size N]
 *        [--log-max-files N] [--tty] [--stdin] [--exit-command PATH [--exit-arg ARG]...]
 *        [--runtime-arg ARG... --runtime-pid-file PATH [--runtime-log PATH]
 *        [--runtime-console NAME]] [--hold-port PROTO:IP:PORT]...
 * Environment: _BERTH_PLAN_FD (passed on to the helper), _BERTH_REPLY_FD (to berth).
 *
 * Files in DIR: attach (socket: output to each client, docker's stdcopy frames without a
 * tty, raw with one; bytes from a client go to the container's stdin, and a client's
 * shutdown closes it), ctl (socket: lines "resize ROWS COLS"), exit.json
 * {"exitCode":N,"signal":S,"finishedAt":"..."}, written once the output is drained, and
 * with another runtime and a tty, the console socket NAME while that runtime's create runs.
 *
 * Errors (STYLE.md §7): main reports a failure once, in monitor.log (stderr, until the
 * monitor detaches), and exits 125 (2 for a usage error); a host port that cannot be held
 * also goes to berth as the reply. The files are split as monitor.h says. */
#define _GNU_SOURCE
#include "monitor.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

/* One option with a value; -1 when it is not one or not allowed here. */
static int parse_option(struct monitor_options *o, const char *a, const char *v) {
  if (strcmp(a, "--dir") == 0)
    o->dir = v;
  else if (strcmp(a, "--helper") == 0)
    o->helper = v;
  else if (strcmp(a, "--log") == 0)
    o->log = v;
  else if (strcmp(a, "--log-max-size") == 0)
    o->log_max_size = strtoull(v, NULL, 10);
  else if (strcmp(a, "--log-max-files") == 0)
    o->log_max_files = (unsigned)strtoul(v, NULL, 10);
  else if (strcmp(a, "--oom-file") == 0)
    o->oom_file = v;
  else if (strcmp(a, "--exit-command") == 0 && o->exit_argc == 0)
    o->exit_argv[o->exit_argc++] = v;
  else if (strcmp(a, "--exit-arg") == 0 && o->exit_argc > 0 && o->exit_argc < MAX_EXIT_ARGS)
    o->exit_argv[o->exit_argc++] = v;
  else if (strcmp(a, "--runtime-arg") == 0 && o->runtime_argc < MAX_EXIT_ARGS)
    o->runtime_argv[o->runtime_argc++] = v;
  else if (strcmp(a, "--runtime-pid-file") == 0)
    o->runtime_pid_file = v;
  else if (strcmp(a, "--runtime-log") == 0)
    o->runtime_log = v;
  else if (strcmp(a, "--runtime-console") == 0)
    o->runtime_console = v;
  else if (strcmp(a, "--hold-port") == 0 && o->port_count < MAX_PORTS)
    o->ports[o->port_count++] = v;
  else
    return -1;
  return 0;
}

static int parse_args(struct monitor_options *o, int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--tty") == 0) {
      o->tty = true;
      continue;
    }
    if (strcmp(a, "--stdin") == 0) {
      o->stdin_open = true;
      continue;
    }
    if (i + 1 >= argc || parse_option(o, a, argv[i + 1]) < 0) return -1;
    i++;
  }
  if (o->runtime_argc > 0 && o->runtime_pid_file == NULL) return -1;
  /* Another runtime's terminal comes through the console socket, and only then. */
  if (o->runtime_console != NULL && !(o->tty && o->runtime_argc > 0)) return -1;
  if (o->tty && o->runtime_argc > 0 && o->runtime_console == NULL) return -1;
  return o->dir && o->helper && o->log ? 0 : -1;
}

/* Every fd closed, each stream's buffer left as it is (only its length counts): what is
 * not touched is not resident. */
static void monitor_init(struct monitor *m) {
  m->opts = (struct monitor_options){.log_max_files = 1};
  m->plan_fd = m->reply_fd = -1;
  m->oom_kills_at_start = 0;
  m->child_in = m->child_out = m->child_err = -1;
  m->in_w = m->out_r = m->err_r = m->master = -1;
  m->console[0] = m->console[1] = m->console_listener = -1;
  m->attach = m->ctl = m->sfd = -1;
  m->log.fd = -1;
  m->out.name = "stdout";
  m->out.len = 0;
  m->errs.name = "stderr";
  m->errs.len = 0;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    m->clients[i] = m->ctl_clients[i] = -1;
    m->client_eof[i] = false;
  }
  m->container = -1;
  m->exited = false;
  m->status = 0;
}

/* Closes every fd from 3 up but `a` and `b` (either may be -1). */
static int close_all_but(int a, int b, struct berth_error **err) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  unsigned from = 3;
  for (int keep = 0; keep < 2; keep++) {
    int k = keep == 0 ? lo : hi;
    if (k < 3 || (unsigned)k < from) continue;
    if ((unsigned)k > from && syscall(SYS_close_range, from, (unsigned)k - 1, 0) < 0)
      return berth_fail(err, errno, "monitor", "close_range %u-%u", from, (unsigned)k - 1);
    from = (unsigned)k + 1;
  }
  if (syscall(SYS_close_range, from, ~0U, 0) < 0) return berth_fail(err, errno, "monitor", "close_range %u-", from);
  return 0;
}

/* The monitor's own process: berth's fds, its directory, the held ports, a session of its
 * own, and the subreaper bit that makes it the parent of the container's processes. */
static int setup_process(struct monitor *m, struct berth_error **err) {
  m->reply_fd = env_fd(BERTH_ENV_REPLY_FD);
  m->plan_fd = env_fd(BERTH_ENV_PLAN_FD);
  if (m->plan_fd < 0)
    return berth_fail(err, EINVAL, "monitor", "no plan: %s is not set (berth-monitor is run by berth)",
                      BERTH_ENV_PLAN_FD);
  /* A restarted container keeps its cgroup, and with it the count of earlier runs. */
  m->oom_kills_at_start = oom_kills(m->opts.oom_file);
  /* Nothing berth or its caller left open stays open here, where it would outlive berth
   * (a caller's pipe would not see its end while the container runs), nor reaches the
   * helper or the container: the plan and reply fds are passed on as duplicates. */
  if (close_all_but(m->plan_fd, m->reply_fd, err) < 0) return -1;
  /* The two kept are passed on as duplicates: these numbers must not reach the helper, or
   * the container would hold berth's plan pipe open until it execs. */
  fcntl(m->plan_fd, F_SETFD, FD_CLOEXEC);
  if (m->reply_fd >= 0) fcntl(m->reply_fd, F_SETFD, FD_CLOEXEC);
  if (chdir(m->opts.dir) < 0) return berth_fail(err, errno, "monitor", "chdir `%s`", m->opts.dir);
  if (hold_ports(&m->opts, err) < 0) return -1;
  setsid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
    return berth_fail(err, errno, "monitor", "prctl PR_SET_CHILD_SUBREAPER");
  signal(SIGPIPE, SIG_IGN);
  return 0;
}

static int open_null(int flags, struct berth_error **err) {
  int fd = open("/dev/null", flags | O_CLOEXEC);
  return fd < 0 ? berth_fail(err, errno, "monitor", "open `/dev/null`") : fd;
}

static int pipe_for(const char *what, int p[2], struct berth_error **err) {
  return pipe2(p, O_CLOEXEC) < 0 ? berth_fail(err, errno, "monitor", "pipe for the container's %s", what) : 0;
}

/* The container's stdio: the monitor keeps one end of each. */
static int setup_stdio(struct monitor *m, struct berth_error **err) {
  if (m->opts.tty) {
    /* The container opens its pty in its own devpts and sends the master here: through a
     * socketpair from berth-helper, or through a socket that another runtime connects to. */
    if (m->opts.runtime_console != NULL) {
      if ((m->console_listener = listen_at(m->opts.runtime_console, err)) < 0) return -1;
    } else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, m->console) < 0) {
      return berth_fail(err, errno, "monitor", "socketpair for the pty master");
    }
    if ((m->child_in = open_null(O_RDWR, err)) < 0) return -1;
    m->child_out = m->child_err = m->child_in;
    return 0;
  }
  int p[2];
  if (m->opts.stdin_open) {
    if (pipe_for("stdin", p, err) < 0) return -1;
    m->child_in = p[0];
    m->in_w = p[1];
  } else if ((m->child_in = open_null(O_RDONLY, err)) < 0) {
    return -1;
  }
  if (pipe_for("stdout", p, err) < 0) return -1;
  m->out_r = p[0];
  m->child_out = p[1];
  if (pipe_for("stderr", p, err) < 0) return -1;
  m->err_r = p[0];
  m->child_err = p[1];
  return 0;
}

/* The attach and ctl sockets, the log, and SIGCHLD as a signalfd (blocked otherwise, so
 * that no handler and no global is needed). */
static int setup_sockets(struct monitor *m, struct berth_error **err) {
  if ((m->attach = listen_at("attach", err)) < 0 || (m->ctl = listen_at("ctl", err)) < 0) return -1;
  if (log_open(&m->log, m->opts.log, m->opts.log_max_size, m->opts.log_max_files) < 0)
    return berth_fail(err, errno, "monitor", "open the log `%s`", m->opts.log);
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  if ((m->sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0)
    return berth_fail(err, errno, "monitor", "signalfd for SIGCHLD");
  return 0;
}

/* Detaches from whatever berth left as stdio: nothing else of berth's is kept open. */
static void detach_stdio(void) {
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }
}

void monitor_warn(struct berth_error **err) {
  dprintf(2, "berth-monitor: %s\n", *err != NULL ? (*err)->message : "out of memory");
  free(*err);
  *err = NULL;
}

/* Reports the failure that ends the monitor, once. Berth reads monitor.log for it, except
 * for a host port that cannot be held: that reply it shows its user as it is. */
static int monitor_fail(const struct monitor *m, struct berth_error **err) {
  if (m->reply_fd >= 0 && *err != NULL && strcmp((*err)->stage, "port") == 0) report_error(m->reply_fd, *err);
  monitor_warn(err);
  return BERTH_HELPER_FAILED;
}

/* The poll set's slots; a slot not in use has fd -1, which poll skips. */
enum {
  SLOT_SIGNAL,
  SLOT_ATTACH,
  SLOT_CTL,
  SLOT_OUT, /* stdout, or the pty master */
  SLOT_ERR, /* stderr, not with a tty */
  SLOT_CLIENTS,
  SLOT_CTL_CLIENTS = SLOT_CLIENTS + MAX_CLIENTS,
  SLOT_COUNT = SLOT_CTL_CLIENTS + MAX_CLIENTS,
};

static void poll_set(const struct monitor *m, struct pollfd *fds) {
  fds[SLOT_SIGNAL] = (struct pollfd){.fd = m->sfd, .events = POLLIN};
  fds[SLOT_ATTACH] = (struct pollfd){.fd = m->attach, .events = POLLIN};
  fds[SLOT_CTL] = (struct pollfd){.fd = m->ctl, .events = POLLIN};
  fds[SLOT_OUT] = (struct pollfd){.fd = m->opts.tty ? m->master : m->out_r, .events = POLLIN};
  fds[SLOT_ERR] = (struct pollfd){.fd = m->opts.tty ? -1 : m->err_r, .events = POLLIN};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    fds[SLOT_CLIENTS + i] = (struct pollfd){.fd = m->client_eof[i] ? -1 : m->clients[i], .events = POLLIN};
    fds[SLOT_CTL_CLIENTS + i] = (struct pollfd){.fd = m->ctl_clients[i], .events = POLLIN};
  }
}

/* Each ready fd to its handler: the container's exit, new clients, output, clients' input. */
static void dispatch(struct monitor *m, const struct pollfd *fds) {
  const short ready = POLLIN | POLLHUP | POLLERR;
  if (fds[SLOT_SIGNAL].revents & POLLIN) on_child_exit(m);
  if (fds[SLOT_ATTACH].revents & POLLIN) on_attach_accept(m);
  if (fds[SLOT_CTL].revents & POLLIN) on_ctl_accept(m);
  if (fds[SLOT_OUT].revents & ready) on_output(m, m->opts.tty ? &m->master : &m->out_r, &m->out, 1);
  if (fds[SLOT_ERR].revents & ready) on_output(m, &m->err_r, &m->errs, 2);
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (m->clients[i] >= 0 && (fds[SLOT_CLIENTS + i].revents & ready)) on_attach_input(m, i);
  for (int i = 0; i < MAX_CLIENTS; i++) {
    short revents = fds[SLOT_CTL_CLIENTS + i].revents;
    if (m->ctl_clients[i] >= 0 && (revents & ready)) on_ctl_input(m, i, revents);
  }
}

/* Until the container has exited and its output is drained. */
static int monitor_loop(struct monitor *m, struct berth_error **err) {
  for (;;) {
    bool output_open = m->opts.tty ? m->master >= 0 : (m->out_r >= 0 || m->err_r >= 0);
    if (m->exited && !output_open) return 0;
    struct pollfd fds[SLOT_COUNT];
    poll_set(m, fds);
    /* After the container exited, whatever still holds the output open (a process it
     * left behind outside its pid namespace) gets a moment, not forever. */
    int rc = poll(fds, SLOT_COUNT, m->exited ? 200 : -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      return berth_fail(err, errno, "monitor", "poll");
    }
    if (rc == 0 && m->exited) return 0;
    dispatch(m, fds);
  }
}

int main(int argc, char **argv) {
  struct monitor m;
  monitor_init(&m);
  if (parse_args(&m.opts, argc, argv) < 0) {
    dprintf(2, "berth-monitor: usage: --dir DIR --helper PATH --log PATH [--tty] [--stdin] ... (run by berth)\n");
    return 2;
  }
  cleanup_error struct berth_error *err = NULL;
  if (setup_process(&m, &err) < 0 || setup_stdio(&m, &err) < 0 || setup_sockets(&m, &err) < 0 ||
      monitor_create(&m, &err) < 0)
    return monitor_fail(&m, &err);
  if (m.container <= 0) {
    unlink("attach");
    unlink("ctl");
    return BERTH_HELPER_FAILED;
  }
  detach_stdio();
  if (monitor_loop(&m, &err) < 0) return monitor_fail(&m, &err);
  monitor_finish(&m);
  return 0;
}
