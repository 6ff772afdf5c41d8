/* See exec.h. */
#define _GNU_SOURCE
#include "exec.h"
#include "mount.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

/* runc's /dev/console: the pty slave bind-mounted over an empty file. The file is made and
 * opened in /dev without following a link (a /dev the image or a volume shaped may hold
 * `console -> /some/file`, which the bind would cover, CVE-2025-52565), and the bind goes
 * from the slave's fd to the file's fd. */
static int bind_console(int slave, const char *name, struct berth_error **err) {
  cleanup_close int dev = open("/dev", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (dev < 0) return berth_fail(err, errno, "tty", "open `/dev`");
  struct stat st;
  if (fstatat(dev, "console", &st, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
      unlinkat(dev, "console", S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
    return berth_fail(err, errno, "tty", "remove `/dev/console`, which is neither a file nor a device");
  int f = openat(dev, "console", O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (f < 0 && errno != EEXIST) return berth_fail(err, errno, "tty", "create `/dev/console`");
  if (f >= 0) close(f);
  cleanup_close int target = openat(dev, "console", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (target < 0) return berth_fail(err, errno, "tty", "open `/dev/console`");
  if (fstat(target, &st) < 0) return berth_fail(err, errno, "tty", "stat `/dev/console`");
  if (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode))
    return berth_fail(err, EEXIST, "tty", "`/dev/console` is neither a file nor a device");
  if (bind_fd(slave, target, "", err) < 0) return berth_error_prefix(err, "bind `%s` to /dev/console", name);
  return 0;
}

int setup_console(int console_fd, int mount_console, struct berth_error **err) {
  if (console_fd < 0) return berth_fail(err, EINVAL, "tty", "a terminal was asked for but there is no console socket");
  cleanup_close int master = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  char name[128];
  if (master < 0) return berth_fail(err, errno, "tty", "open `/dev/ptmx` in the container");
  if (unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0)
    return berth_fail(err, errno, "tty", "unlock the pty");
  cleanup_close int slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (slave < 0) return berth_fail(err, errno, "tty", "open `%s`", name);
  if (mount_console && bind_console(slave, name, err) < 0) return -1;
  if (dup2(slave, 0) < 0 || dup2(slave, 1) < 0 || dup2(slave, 2) < 0)
    return berth_fail(err, errno, "tty", "dup2 the pty");
  if (ioctl(0, TIOCSCTTY, 0) < 0) return berth_fail(err, errno, "tty", "make the pty the controlling terminal");
  if (send_fd(console_fd, master) < 0) return berth_fail(err, errno, "tty", "send the pty master");
  close(console_fd);
  return 0;
}

int exec_pipes_open(struct exec_pipes *p, int with_stdin, struct berth_error **err) {
  for (int i = 0; i < 3; i++)
    p->child[i] = p->parent[i] = -1;
  for (int i = with_stdin ? 0 : 1; i < 3; i++) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return berth_fail(err, errno, "exec", "pipe for fd %d", i);
    p->child[i] = i == 0 ? fds[0] : fds[1];
    p->parent[i] = i == 0 ? fds[1] : fds[0];
  }
  return 0;
}

int exec_pipes_child(const struct exec_pipes *p, struct berth_error **err) {
  for (int i = 0; i < 3; i++)
    if (p->child[i] >= 0 && dup2(p->child[i], i) < 0)
      return berth_fail(err, errno, "exec", "dup2 the pipe to fd %d", i);
  return 0;
}

/* Copies what fd has to out; closes fd (sets it to -1) at its end, or when out is gone
 * (EPIPE: the process then gets SIGPIPE on its next write, as it would writing to berth's
 * stdout itself). */
static void relay_pipe(int *fd, int out, char *buf, size_t len) {
  ssize_t n = read(*fd, buf, len);
  if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (n > 0 && write_all(out, buf, (size_t)n) == 0) return;
  close(*fd);
  *fd = -1;
}

static int status_code(int status) {
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int exec_session(pid_t pid, int master, struct exec_pipes *pipes) {
  /* A write to berth's stdout once its reader is gone fails with EPIPE, handled below. */
  signal(SIGPIPE, SIG_IGN);
  int none[3] = {-1, -1, -1};
  int *pp = pipes != NULL ? pipes->parent : none;
  sigset_t mask;
  sigemptyset(&mask);
  int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
  for (size_t i = 0; i < sizeof(forwarded) / sizeof(forwarded[0]); i++)
    sigaddset(&mask, forwarded[i]);
  sigprocmask(SIG_BLOCK, &mask, NULL);
  int sfd = signalfd(-1, &mask, SFD_CLOEXEC);
  struct winsize ws0;
  if (master >= 0 && ioctl(0, TIOCGWINSZ, &ws0) == 0) ioctl(master, TIOCSWINSZ, &ws0);
  struct termios saved;
  bool raw = false;
  if (master >= 0 && isatty(0) && tcgetattr(0, &saved) == 0) {
    struct termios t = saved;
    cfmakeraw(&t);
    raw = tcsetattr(0, TCSANOW, &t) == 0;
  }
  bool in_open = master >= 0 || pp[0] >= 0;
  /* Our stdin is read only while the process's has room: a blocked write would stop the
   * relay of its output, on which it may itself be blocked. */
  bool in_room = false;
  bool exited = false;
  int status = 0;
  /* It may have exited before SIGCHLD was blocked: that signal is gone, so look once. */
  if (waitpid(pid, &status, WNOHANG) == pid) exited = true;
  char buf[16384];
  while (!exited || master >= 0 || pp[1] >= 0 || pp[2] >= 0) {
    bool to_pipe = in_open && pp[0] >= 0;
    struct pollfd fds[6] = {
        {.fd = sfd, .events = POLLIN},
        {.fd = master, .events = POLLIN},
        {.fd = in_open && (!to_pipe || in_room) ? 0 : -1, .events = POLLIN},
        {.fd = pp[1], .events = POLLIN},
        {.fd = pp[2], .events = POLLIN},
        {.fd = to_pipe && !in_room ? pp[0] : -1, .events = POLLOUT},
    };
    int rc = poll(fds, 6, exited ? 100 : -1);
    if (rc < 0 && errno != EINTR) break;
    if (rc == 0 && exited) break; /* output drained, or held by a process left behind */
    if (fds[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof(si)) == sizeof(si)) {
        if (si.ssi_signo == SIGCHLD) {
          int st;
          if (waitpid(pid, &st, WNOHANG) == pid) {
            exited = true;
            status = st;
          }
        } else if (si.ssi_signo == SIGWINCH) {
          struct winsize ws;
          if (master >= 0 && ioctl(0, TIOCGWINSZ, &ws) == 0) ioctl(master, TIOCSWINSZ, &ws);
        } else {
          kill(pid, (int)si.ssi_signo);
        }
      }
    }
    if (master >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = read(master, buf, sizeof(buf));
      if (n > 0) {
        write_all(1, buf, (size_t)n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        close(master); /* EIO: every slave is closed */
        master = -1;
      }
    }
    if (fds[5].revents & POLLOUT) in_room = true;
    if (fds[5].revents & (POLLERR | POLLHUP)) in_open = false; /* the process closed its stdin */
    for (int i = 1; i < 3; i++)
      if (pp[i] >= 0 && (fds[2 + i].revents & (POLLIN | POLLHUP | POLLERR))) relay_pipe(&pp[i], i, buf, sizeof(buf));
    if (in_open && (fds[2].revents & (POLLIN | POLLHUP | POLLERR))) {
      /* PIPE_BUF at most into the pipe: a write that size fits the room POLLOUT promises. */
      ssize_t n = read(0, buf, to_pipe ? PIPE_BUF : sizeof(buf));
      in_room = false;
      if (n > 0 && master >= 0) {
        write_all(master, buf, (size_t)n);
      } else if (n > 0 && pp[0] >= 0) {
        /* EPIPE: the process closed its stdin, and the rest of ours is no one's. */
        if (write_all(pp[0], buf, (size_t)n) < 0) n = 0;
      }
      if (n <= 0 && !(n < 0 && errno == EINTR)) {
        in_open = false;
        /* End of input: send the terminal's EOF character, as a shell on a pty expects. */
        if (master >= 0) write_all(master, "\x04", 1);
        if (pp[0] >= 0) close(pp[0]);
        pp[0] = -1;
      }
    }
  }
  for (int i = 0; i < 3; i++)
    if (pp[i] >= 0) close(pp[i]); /* held by a process left behind */
  if (!exited) {
    int st;
    if (waitpid(pid, &st, 0) == pid) status = st;
  }
  if (raw) tcsetattr(0, TCSANOW, &saved);
  return status_code(status);
}
