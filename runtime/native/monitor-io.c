/* berth-monitor's sockets and streams (see monitor.h): the held host ports, the container's
 * output to the log and the attach clients, their input to the container, and the ctl
 * socket. */
#define _GNU_SOURCE
#include "monitor.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

int listen_at(const char *name, struct berth_error **err) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  /* Relative to DIR (the cwd) so that long state paths fit sun_path. */
  snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", name);
  unlink(name);
  cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return berth_fail(err, errno, "monitor", "socket for `%s`", name);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) return berth_fail(err, errno, "monitor", "bind `%s`", name);
  if (chmod(name, 0600) < 0) return berth_fail(err, errno, "monitor", "chmod `%s`", name);
  if (listen(fd, 8) < 0) return berth_fail(err, errno, "monitor", "listen on `%s`", name);
  int listening = fd;
  fd = -1;
  return listening;
}

/* Binds one PROTO:IP:PORT; the socket stays open, unused, until the monitor exits. */
static int hold_port(const char *spec, struct berth_error **err) {
  char proto[8], ip[64];
  unsigned port = 0;
  struct sockaddr_in addr = {.sin_family = AF_INET};
  if (sscanf(spec, "%7[a-z]:%63[0-9.]:%u", proto, ip, &port) != 3 || port == 0 || port > 65535 ||
      inet_pton(AF_INET, ip, &addr.sin_addr) != 1)
    return berth_fail(err, EINVAL, "monitor", "parse the port to hold `%s`", spec);
  addr.sin_port = htons((uint16_t)port);
  bool udp = strcmp(proto, "udp") == 0;
  int fd = socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_CLOEXEC, 0);
  int one = 1;
  if (fd < 0 || (!udp && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0) ||
      bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
    int e = errno;
    if (fd >= 0) close(fd);
    /* Docker's words, which berth shows its user as they are (stage "port"). */
    berth_fail(err, 0, "port", "Bind for %s:%u failed: %s", ip, port,
               e == EADDRINUSE ? "port is already allocated" : strerror(e));
    if (*err != NULL) (*err)->errnum = e;
    return -1;
  }
  return 0;
}

int hold_ports(const struct monitor_options *opts, struct berth_error **err) {
  for (int i = 0; i < opts->port_count; i++)
    if (hold_port(opts->ports[i], err) < 0) return -1;
  return 0;
}

/* Output goes to every attach client, in docker's stdcopy frames without a tty. */
static void broadcast(struct monitor *m, int stream, const char *data, size_t len) {
  uint8_t hdr[8] = {(uint8_t)stream,     0,           0, 0, (uint8_t)(len >> 24), (uint8_t)(len >> 16),
                    (uint8_t)(len >> 8), (uint8_t)len};
  for (int i = 0; i < MAX_CLIENTS; i++) {
    int c = m->clients[i];
    if (c < 0) continue;
    /* A client that cannot keep up is dropped rather than stalling the container. */
    int flags = fcntl(c, F_GETFL);
    fcntl(c, F_SETFL, flags & ~O_NONBLOCK);
    if ((!m->opts.tty && write_all(c, hdr, 8) < 0) || write_all(c, data, len) < 0) {
      close(c);
      m->clients[i] = -1;
    }
  }
}

void on_output(struct monitor *m, int *fd, struct log_stream *stream, int stream_no) {
  char buf[65536];
  ssize_t r = read(*fd, buf, sizeof(buf));
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r <= 0) {
    /* EOF, or EIO on a pty master once every slave is closed. */
    close(*fd);
    *fd = -1;
    return;
  }
  log_write(&m->log, stream, buf, (size_t)r);
  broadcast(m, stream_no, buf, (size_t)r);
}

/* The first free slot of set takes fd; with none free it is closed. */
static int add_client(int *set, int fd) {
  for (int i = 0; i < MAX_CLIENTS; i++)
    if (set[i] < 0) {
      set[i] = fd;
      return i;
    }
  close(fd);
  return -1;
}

void on_attach_accept(struct monitor *m) {
  int c = accept4(m->attach, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c < 0) return;
  int i = add_client(m->clients, c);
  if (i >= 0) m->client_eof[i] = false;
}

void on_attach_input(struct monitor *m, int i) {
  char buf[65536];
  ssize_t r = read(m->clients[i], buf, sizeof(buf));
  if (r < 0 && (errno == EINTR || errno == EAGAIN)) return;
  if (r > 0) {
    int target = m->opts.tty ? m->master : m->in_w;
    if (target >= 0) (void)write_all(target, buf, (size_t)r);
    return;
  }
  /* The client's stdin ended: so does the container's (docker's StdinOnce). */
  if (!m->opts.tty && m->in_w >= 0) {
    close(m->in_w);
    m->in_w = -1;
  }
  m->client_eof[i] = true;
}

void on_ctl_accept(struct monitor *m) {
  int c = accept4(m->ctl, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
  if (c >= 0) add_client(m->ctl_clients, c);
}

void on_ctl_input(struct monitor *m, int i, short revents) {
  char buf[128];
  ssize_t n = read(m->ctl_clients[i], buf, sizeof(buf) - 1);
  unsigned rows = 0, cols = 0;
  if (n > 0) {
    buf[n] = '\0';
    if (m->master >= 0 && sscanf(buf, "resize %u %u", &rows, &cols) == 2) {
      struct winsize ws = {.ws_row = (unsigned short)rows, .ws_col = (unsigned short)cols};
      ioctl(m->master, TIOCSWINSZ, &ws);
    }
  }
  if (revents & (POLLHUP | POLLERR)) {
    close(m->ctl_clients[i]);
    m->ctl_clients[i] = -1;
  }
}
