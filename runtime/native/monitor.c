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
 * with another runtime and a tty, the console socket NAME while that runtime's create runs. */
#define _GNU_SOURCE
#include "log.h"
#include "proto.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/close_range.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 16
#define MAX_EXIT_ARGS 32
#define MAX_PORTS 256

extern char **environ;

struct options {
  const char *dir, *helper, *log;
  uint64_t log_max_size;
  unsigned log_max_files;
  bool tty, stdin_open;
  const char *exit_argv[MAX_EXIT_ARGS + 2];
  int exit_argc;
  /* Another OCI runtime's create command (runc, crun) in place of berth-helper, the pid file
   * it writes and its --log file (JSON lines), for --runtime. */
  const char *runtime_argv[MAX_EXIT_ARGS + 2];
  int runtime_argc;
  const char *runtime_pid_file, *runtime_log;
  /* The container's memory cgroup file that counts OOM kills ("oom_kill N": v1
   * memory.oom_control, v2 memory.events): a count above the one at start means the OOM
   * killer struck, reported as "oomKilled" in exit.json (docker's State.OOMKilled). */
  const char *oom_file;
  /* With --tty: the socket (relative to DIR) given to the runtime as --console-socket. */
  const char *runtime_console;
  /* --hold-port PROTO:IP:PORT: host ports published to the container (nftables DNATs them),
   * bound here for the container's life so that no other program or container takes them,
   * as docker-proxy and conmon hold theirs. */
  const char *ports[MAX_PORTS];
  int port_count;
};

static struct options opts = {.log_max_files = 1};
static int clients[MAX_CLIENTS];
static bool client_eof[MAX_CLIENTS]; /* its input ended: poll it no more for reading */
static int ctl_clients[MAX_CLIENTS];

static void die(const char *what) {
  dprintf(2, "berth-monitor: %s: %s\n", what, strerror(errno));
  exit(BERTH_HELPER_FAILED);
}

static int parse_args(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--tty") == 0) {
      opts.tty = true;
      continue;
    }
    if (strcmp(a, "--stdin") == 0) {
      opts.stdin_open = true;
      continue;
    }
    if (v == NULL) return -1;
    i++;
    if (strcmp(a, "--dir") == 0)
      opts.dir = v;
    else if (strcmp(a, "--helper") == 0)
      opts.helper = v;
    else if (strcmp(a, "--log") == 0)
      opts.log = v;
    else if (strcmp(a, "--log-max-size") == 0)
      opts.log_max_size = strtoull(v, NULL, 10);
    else if (strcmp(a, "--log-max-files") == 0)
      opts.log_max_files = (unsigned)strtoul(v, NULL, 10);
    else if (strcmp(a, "--oom-file") == 0)
      opts.oom_file = v;
    else if (strcmp(a, "--exit-command") == 0 && opts.exit_argc == 0)
      opts.exit_argv[opts.exit_argc++] = v;
    else if (strcmp(a, "--exit-arg") == 0 && opts.exit_argc > 0 && opts.exit_argc < MAX_EXIT_ARGS)
      opts.exit_argv[opts.exit_argc++] = v;
    else if (strcmp(a, "--runtime-arg") == 0 && opts.runtime_argc < MAX_EXIT_ARGS)
      opts.runtime_argv[opts.runtime_argc++] = v;
    else if (strcmp(a, "--runtime-pid-file") == 0)
      opts.runtime_pid_file = v;
    else if (strcmp(a, "--runtime-log") == 0)
      opts.runtime_log = v;
    else if (strcmp(a, "--runtime-console") == 0)
      opts.runtime_console = v;
    else if (strcmp(a, "--hold-port") == 0 && v != NULL && opts.port_count < MAX_PORTS)
      opts.ports[opts.port_count++] = v;
    else
      return -1;
  }
  if (opts.runtime_argc > 0 && opts.runtime_pid_file == NULL) return -1;
  /* Another runtime's terminal comes through the console socket, and only then. */
  if (opts.runtime_console != NULL && !(opts.tty && opts.runtime_argc > 0)) return -1;
  if (opts.tty && opts.runtime_argc > 0 && opts.runtime_console == NULL) return -1;
  return opts.dir && opts.helper && opts.log ? 0 : -1;
}

static int listen_at(const char *name) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  /* Relative to DIR (the cwd) so that long state paths fit sun_path. */
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", name);
  unlink(name);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || chmod(name, 0600) < 0 || listen(fd, 8) < 0)
    die(name);
  return fd;
}

static void add_client(int *set, int fd) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (set[i] < 0) {
      set[i] = fd;
      if (set == clients) client_eof[i] = false;
      return;
    }
  close(fd);
}

static void broadcast(int stream, const char *data, size_t len) {
  uint8_t hdr[8] = {(uint8_t)stream,     0,           0, 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8), (uint8_t)len};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i] < 0) continue;
    /* A client that cannot keep up is dropped rather than stalling the container. */
    int flags = fcntl(clients[i], F_GETFL);
    fcntl(clients[i], F_SETFL, flags & ~O_NONBLOCK);
    if ((!opts.tty && write_all(clients[i], hdr, 8) < 0) || write_all(clients[i], data, len) < 0) {
      close(clients[i]);
      clients[i] = -1;
    }
  }
}

/* The "oom_kill N" count of opts.oom_file; 0 without one. */
static unsigned long long oom_kills(void) {
  if (opts.oom_file == NULL) return 0;
  char buf[512];
  int fd = open(opts.oom_file, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  for (char *line = buf; line != NULL && *line != '\0';) {
    if (strncmp(line, "oom_kill ", 9) == 0) return strtoull(line + 9, NULL, 10);
    line = strchr(line, '\n');
    if (line != NULL) line++;
  }
  return 0;
}

static unsigned long long oom_kills_at_start;

/* Closes every fd from 3 up but `a` and `b` (either may be -1). */
static void close_all_but(int a, int b) {
  int lo = a < b ? a : b, hi = a < b ? b : a;
  unsigned from = 3;
  for (int keep = 0; keep < 2; keep++) {
    int k = keep == 0 ? lo : hi;
    if (k < 3 || (unsigned)k < from) continue;
    if ((unsigned)k > from && syscall(SYS_close_range, from, (unsigned)k - 1, 0) < 0) die("close_range");
    from = (unsigned)k + 1;
  }
  if (syscall(SYS_close_range, from, ~0U, 0) < 0) die("close_range");
}

/* Binds each --hold-port (close-on-exec: only the monitor holds them). The first that
 * cannot be bound ends the monitor with an error reply naming it, before any container. */
static void hold_ports(int reply_fd) {
  for (int i = 0; i < opts.port_count; i++) {
    char proto[8], ip[64];
    unsigned port = 0;
    struct sockaddr_in addr = {.sin_family = AF_INET};
    if (sscanf(opts.ports[i], "%7[a-z]:%63[0-9.]:%u", proto, ip, &port) != 3 || port == 0 || port > 65535 ||
        inet_pton(AF_INET, ip, &addr.sin_addr) != 1) {
      errno = EINVAL;
      die(opts.ports[i]);
    }
    addr.sin_port = htons((uint16_t)port);
    bool udp = strcmp(proto, "udp") == 0;
    int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd < 0 || (!udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
        bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
      int err = errno;
      if (reply_fd >= 0)
        dprintf(reply_fd,
                "{\"type\":\"error\",\"stage\":\"port\",\"errno\":%d,\"message\":\"Bind for %s:%u failed: %s\"}\n", err,
                ip, port, err == EADDRINUSE ? "port is already allocated" : strerror(err));
      errno = err;
      die(opts.ports[i]);
    }
  }
}

static void write_exit(int status) {
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  struct tm tm;
  gmtime_r(&ts.tv_sec, &tm);
  char buf[256];
  int n = snprintf(buf, sizeof(buf),
                   "{\"exitCode\":%d,\"signal\":%d,\"finishedAt\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ\","
                   "\"oomKilled\":%s}\n",
                   code, sig, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                   ts.tv_nsec, oom_kills() > oom_kills_at_start ? "true" : "false");
  int fd = open("exit.json.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write_all(fd, buf, (size_t)n) < 0 || fsync(fd) < 0 || close(fd) < 0 ||
      rename("exit.json.tmp", "exit.json") < 0)
    dprintf(2, "berth-monitor: write exit.json: %s\n", strerror(errno));
}

static void run_exit_command(void) {
  if (opts.exit_argc == 0) return;
  pid_t pid = fork();
  if (pid != 0) return;
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
  }
  setsid();
  execve(opts.exit_argv[0], (char **)opts.exit_argv, environ);
  _exit(127);
}

/* After another runtime's create: the reply berth-helper would have given, from the
 * runtime's status, its pid file and the last message of its log. */
static void runtime_reply(int status, char *reply, size_t cap, size_t *len) {
  char buf[4096] = {0};
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  if (code == 0) {
    int fd = open(opts.runtime_pid_file, O_RDONLY | O_CLOEXEC);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
    if (fd >= 0) close(fd);
    if (n > 0 && atoi(buf) > 0) {
      *len = (size_t)snprintf(reply, cap, "{\"type\":\"created\",\"pid\":%d}\n", atoi(buf));
      return;
    }
  }
  /* The last "msg" of the runtime's JSON log says why. */
  char msg[1024] = "";
  int fd = opts.runtime_log ? open(opts.runtime_log, O_RDONLY | O_CLOEXEC) : -1;
  if (fd >= 0) {
    off_t size = lseek(fd, 0, SEEK_END);
    off_t from = size > (off_t)sizeof(buf) - 1 ? size - (off_t)sizeof(buf) + 1 : 0;
    ssize_t n = pread(fd, buf, sizeof(buf) - 1, from);
    close(fd);
    buf[n > 0 ? n : 0] = '\0';
    char *last = NULL;
    for (char *q = strstr(buf, "\"msg\":\""); q != NULL; q = strstr(q + 1, "\"msg\":\""))
      last = q + 7;
    if (last != NULL) {
      size_t i = 0;
      for (char *q = last; *q && *q != '"' && i < sizeof(msg) - 1; q++) {
        if (*q == '\\' && q[1]) q++;
        msg[i++] = *q;
      }
      msg[i] = '\0';
    }
  }
  char esc[1200];
  size_t elen = 0;
  esc[0] = '\0';
  json_escape(esc, sizeof(esc), &elen, msg, strlen(msg));
  char name[256];
  size_t nlen = 0;
  name[0] = '\0';
  json_escape(name, sizeof(name), &nlen, opts.runtime_argv[0], strlen(opts.runtime_argv[0]));
  *len = (size_t)snprintf(
      reply, cap,
      "{\"type\":\"error\",\"stage\":\"runtime\",\"errno\":0,\"message\":\"%s create failed with status %d%s%s\"}\n",
      name, code, msg[0] ? ": " : "", esc);
  if (*len >= cap) *len = cap - 1;
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
static void runtime_console_error(int errnum, char *reply, size_t cap, size_t *len) {
  char name[256], sock[256];
  size_t nlen = 0, slen = 0;
  name[0] = sock[0] = '\0';
  json_escape(name, sizeof(name), &nlen, opts.runtime_argv[0], strlen(opts.runtime_argv[0]));
  json_escape(sock, sizeof(sock), &slen, opts.runtime_console, strlen(opts.runtime_console));
  *len = (size_t)snprintf(reply, cap,
                          "{\"type\":\"error\",\"stage\":\"tty\",\"errno\":%d,\"message\":\"%s create sent no pty "
                          "master to the console socket `%s`: %s\"}\n",
                          errnum, name, sock, strerror(errnum));
  if (*len >= cap) *len = cap - 1;
}

static void handle_ctl(int fd, int master) {
  char buf[128];
  ssize_t n = read(fd, buf, sizeof(buf) - 1);
  if (n <= 0) return;
  buf[n] = '\0';
  unsigned rows = 0, cols = 0;
  if (master >= 0 && sscanf(buf, "resize %u %u", &rows, &cols) == 2) {
    struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
    ioctl(master, TIOCSWINSZ, &ws);
  }
}

int main(int argc, char **argv) {
  if (parse_args(argc, argv) < 0) {
    dprintf(2, "berth-monitor: usage: --dir DIR --helper PATH --log PATH [--tty] [--stdin] ... (run by berth)\n");
    return 2;
  }
  int reply_fd = env_fd(BERTH_ENV_REPLY_FD);
  int plan_fd = env_fd(BERTH_ENV_PLAN_FD);
  if (plan_fd < 0) die("no plan fd");
  /* A restarted container keeps its cgroup, and with it the count of earlier runs. */
  oom_kills_at_start = oom_kills();
  /* Nothing berth or its caller left open stays open here, where it would outlive berth
   * (a caller's pipe would not see its end while the container runs), nor reaches the
   * helper or the container: the plan and reply fds are passed on as duplicates. */
  close_all_but(plan_fd, reply_fd);
  /* The two kept are passed on as duplicates: these numbers must not reach the helper, or
   * the container would hold berth's plan pipe open until it execs. */
  fcntl(plan_fd, F_SETFD, FD_CLOEXEC);
  if (reply_fd >= 0) fcntl(reply_fd, F_SETFD, FD_CLOEXEC);
  if (chdir(opts.dir) < 0) die(opts.dir);
  hold_ports(reply_fd);
  setsid();
  if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) die("PR_SET_CHILD_SUBREAPER");
  signal(SIGPIPE, SIG_IGN);
  for (int i = 0; i < MAX_CLIENTS; i++)
    clients[i] = ctl_clients[i] = -1;

  /* The container's stdio: the monitor keeps one end of each. */
  int child_in = -1, child_out = -1, child_err = -1;
  int in_w = -1, out_r = -1, err_r = -1, master = -1;
  int console[2] = {-1, -1}, console_listener = -1;
  if (opts.tty) {
    /* The container opens its pty in its own devpts and sends the master here: through a
     * socketpair from berth-helper, or through a socket that another runtime connects to. */
    if (opts.runtime_console != NULL)
      console_listener = listen_at(opts.runtime_console);
    else if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0)
      die("socketpair");
    if ((child_in = open("/dev/null", O_RDWR | O_CLOEXEC)) < 0) die("/dev/null");
    child_out = child_err = child_in;
  } else {
    int p[2];
    if (opts.stdin_open) {
      if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
      child_in = p[0];
      in_w = p[1];
    } else if ((child_in = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
      die("/dev/null");
    }
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
    out_r = p[0];
    child_out = p[1];
    if (pipe2(p, O_CLOEXEC) < 0) die("pipe");
    err_r = p[0];
    child_err = p[1];
  }
  int attach = listen_at("attach");
  int ctl = listen_at("ctl");
  struct log_file log;
  if (log_open(&log, opts.log, opts.log_max_size, opts.log_max_files) < 0) die(opts.log);

  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGCHLD);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
  if (sfd < 0) die("signalfd");

  /* The helper: its replies come back on a pipe and go on to berth. */
  int rp[2];
  if (pipe2(rp, O_CLOEXEC) < 0) die("pipe");
  pid_t helper = fork();
  if (helper < 0) die("fork");
  if (helper == 0) {
    sigprocmask(SIG_UNBLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_DFL);
    if (dup2(child_in, 0) < 0 || dup2(child_out, 1) < 0 || dup2(child_err, 2) < 0) _exit(BERTH_HELPER_FAILED);
    if (console[1] >= 0) {
      char cv[16];
      snprintf(cv, sizeof(cv), "%d", fcntl(console[1], F_DUPFD, 3));
      setenv(BERTH_ENV_CONSOLE_FD, cv, 1);
    }
    int keep_plan = fcntl(plan_fd, F_DUPFD, 3);
    int keep_reply = fcntl(rp[1], F_DUPFD, 3);
    char pv[16], rv[16];
    snprintf(pv, sizeof(pv), "%d", keep_plan);
    snprintf(rv, sizeof(rv), "%d", keep_reply);
    setenv(BERTH_ENV_PLAN_FD, pv, 1);
    setenv(BERTH_ENV_REPLY_FD, rv, 1);
    if (opts.runtime_argc > 0) {
      /* The runtime replies by its status and pid file; the container must not hold the pipe. */
      fcntl(keep_reply, F_SETFD, FD_CLOEXEC);
      fcntl(keep_plan, F_SETFD, FD_CLOEXEC);
      execve(opts.runtime_argv[0], (char **)opts.runtime_argv, environ);
      dprintf(keep_reply, "exec %s: %s", opts.runtime_argv[0], strerror(errno));
      _exit(127);
    }
    execle(opts.helper, "berth-helper", (char *)NULL, environ);
    dprintf(keep_reply,
            "{\"type\":\"error\",\"stage\":\"helper\",\"errno\":%d,\"message\":\"exec the helper `%s`: %s\"}\n", errno,
            opts.helper, strerror(errno));
    _exit(BERTH_HELPER_FAILED);
  }
  close(rp[1]);
  close(plan_fd);
  if (child_in >= 0) close(child_in);
  if (!opts.tty) {
    close(child_out);
    close(child_err);
  }
  if (console[1] >= 0) close(console[1]);
  int console_errno = 0;
  if (console_listener >= 0) {
    if ((master = runtime_master(console_listener, helper)) < 0) console_errno = errno;
    close(console_listener);
    unlink(opts.runtime_console);
  }
  /* The helper's reply: one line. */
  char reply[2048];
  size_t rlen = 0;
  for (;;) {
    ssize_t n = read(rp[0], reply + rlen, sizeof(reply) - 1 - rlen);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    rlen += (size_t)n;
    if (rlen == sizeof(reply) - 1 || memchr(reply, '\n', rlen) != NULL) break;
  }
  close(rp[0]);
  reply[rlen] = '\0';
  int hstatus = 0;
  while (waitpid(helper, &hstatus, 0) < 0 && errno == EINTR)
    ;
  pid_t container = -1;
  if (opts.runtime_argc > 0) runtime_reply(hstatus, reply, sizeof(reply), &rlen);
  const char *p = strstr(reply, "\"type\":\"created\",\"pid\":");
  if (p != NULL) container = (pid_t)atoi(p + strlen("\"type\":\"created\",\"pid\":"));
  if (container > 0 && opts.runtime_console != NULL && master < 0) {
    /* Created, but with nobody to hold its terminal: berth deletes it from the runtime. */
    runtime_console_error(console_errno, reply, sizeof(reply), &rlen);
    kill(container, SIGKILL);
    container = -1;
  }
  if (rlen == 0)
    rlen = (size_t)snprintf(reply, sizeof(reply),
                            "{\"type\":\"error\",\"stage\":\"helper\",\"errno\":0,\"message\":\"the helper exited with "
                            "status %d without a reply\"}\n",
                            WIFEXITED(hstatus) ? WEXITSTATUS(hstatus) : 128 + WTERMSIG(hstatus));
  if (reply_fd >= 0) {
    write_all(reply_fd, reply, rlen);
    close(reply_fd);
  }
  if (container > 0 && console[0] >= 0 && (master = recv_fd(console[0])) < 0) {
    dprintf(2, "berth-monitor: receive the pty from the container: %s\n", strerror(errno));
    kill(container, SIGKILL);
  }
  if (console[0] >= 0) close(console[0]);
  if (container <= 0) {
    unlink("attach");
    unlink("ctl");
    return BERTH_HELPER_FAILED;
  }
  /* Detach from whatever berth left us: nothing else of berth's is kept open. */
  int null = open("/dev/null", O_RDWR | O_CLOEXEC);
  if (null >= 0) {
    dup2(null, 0);
    dup2(null, 1);
    dup2(null, 2);
    close(null);
  }

  struct log_stream out = {.name = "stdout"}, errs = {.name = "stderr"};
  bool exited = false;
  int status = 0;
  char buf[65536];
  for (;;) {
    bool output_open = opts.tty ? master >= 0 : (out_r >= 0 || err_r >= 0);
    if (exited && !output_open) break;
    struct pollfd fds[5 + 2 * MAX_CLIENTS];
    int n = 0;
    fds[n++] = (struct pollfd){.fd = sfd, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = attach, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = ctl, .events = POLLIN};
    int first_out = n;
    if (opts.tty) {
      fds[n++] = (struct pollfd){.fd = master, .events = POLLIN};
    } else {
      fds[n++] = (struct pollfd){.fd = out_r, .events = POLLIN};
      fds[n++] = (struct pollfd){.fd = err_r, .events = POLLIN};
    }
    int first_client = n;
    for (int i = 0; i < MAX_CLIENTS; i++)
      fds[n++] = (struct pollfd){.fd = client_eof[i] ? -1 : clients[i], .events = POLLIN};
    for (int i = 0; i < MAX_CLIENTS; i++)
      fds[n++] = (struct pollfd){.fd = ctl_clients[i], .events = POLLIN};
    /* After the container exited, whatever still holds the output open (a process it
     * left behind outside its pid namespace) gets a moment, not forever. */
    int rc = poll(fds, (nfds_t)n, exited ? 200 : -1);
    if (rc < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    if (rc == 0 && exited) break;
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      while (read(sfd, &si, sizeof(si)) > 0)
        ;
      int st;
      pid_t w;
      while ((w = waitpid(-1, &st, WNOHANG)) > 0)
        if (w == container) {
          exited = true;
          status = st;
        }
    }
    if (fds[1].revents & POLLIN) {
      int c = accept4(attach, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) add_client(clients, c);
    }
    if (fds[2].revents & POLLIN) {
      int c = accept4(ctl, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
      if (c >= 0) add_client(ctl_clients, c);
    }
    for (int k = first_out; k < first_client; k++) {
      if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t r = read(fds[k].fd, buf, sizeof(buf));
      if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      bool is_err = !opts.tty && fds[k].fd == err_r;
      if (r <= 0) {
        /* EOF, or EIO on a pty master once every slave is closed. */
        close(fds[k].fd);
        if (opts.tty)
          master = -1;
        else if (is_err)
          err_r = -1;
        else
          out_r = -1;
        continue;
      }
      log_write(&log, is_err ? &errs : &out, buf, (size_t)r);
      broadcast(is_err ? 2 : 1, buf, (size_t)r);
    }
    for (int i = 0; i < MAX_CLIENTS; i++) {
      struct pollfd *f = &fds[first_client + i];
      if (clients[i] >= 0 && (f->revents & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t r = read(clients[i], buf, sizeof(buf));
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        int target = opts.tty ? master : in_w;
        if (r > 0 && target >= 0) {
          write_all(target, buf, (size_t)r);
        } else if (r <= 0) {
          /* The client's stdin ended: so does the container's (docker's StdinOnce). */
          if (!opts.tty && in_w >= 0) {
            close(in_w);
            in_w = -1;
          }
          client_eof[i] = true;
        }
      }
      struct pollfd *c = &fds[first_client + MAX_CLIENTS + i];
      if (ctl_clients[i] >= 0 && (c->revents & (POLLIN | POLLHUP | POLLERR))) {
        handle_ctl(ctl_clients[i], master);
        if (c->revents & (POLLHUP | POLLERR)) {
          close(ctl_clients[i]);
          ctl_clients[i] = -1;
        }
      }
    }
  }
  log_flush(&log, &out);
  log_flush(&log, &errs);
  log_close(&log);
  write_exit(status);
  /* A client still attached when the container ends (a foreground `run --rm`) takes care of
   * what comes after; the exit command is for containers nobody is waiting on. */
  bool attached = false;
  for (int i = 0; i < MAX_CLIENTS; i++) {
    if (clients[i] < 0) continue;
    /* A client that only ended its input is still there; one that went away hangs up. */
    struct pollfd pf = {.fd = clients[i], .events = POLLOUT};
    if (poll(&pf, 1, 0) >= 0 && !(pf.revents & (POLLHUP | POLLERR))) attached = true;
    close(clients[i]);
  }
  unlink("attach");
  unlink("ctl");
  if (!attached) run_exit_command();
  return 0;
}
