/* berth-monitor's state and its parts (monitor.c describes the program). All of its state
 * is one struct monitor, which main owns and passes by pointer; each file has one concern:
 * monitor.c the arguments, the setup and the event loop, monitor-create.c the helper (or
 * another runtime's create) and its reply to berth, monitor-io.c the container's output,
 * the attach and ctl sockets and the held ports, monitor-exit.c the container's exit. */
#ifndef BERTH_MONITOR_H
#define BERTH_MONITOR_H

#include "log.h"
#include "util.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define MAX_CLIENTS 16
#define MAX_EXIT_ARGS 32
#define MAX_PORTS 256

struct monitor_options {
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

/* Every fd is -1 when closed or not used. */
struct monitor {
  struct monitor_options opts;
  int plan_fd;  /* berth's plan pipe, until the helper has its copy */
  int reply_fd; /* berth's reply pipe, until the reply is sent */
  unsigned long long oom_kills_at_start;
  /* The ends of the container's stdio that the helper gets (closed once it runs)... */
  int child_in, child_out, child_err;
  /* ...and those the monitor keeps: pipes without a tty, the pty master with one. */
  int in_w, out_r, err_r, master;
  /* Where the pty master comes from: a socketpair with berth-helper, or the console socket
   * another runtime connects to. */
  int console[2], console_listener;
  int attach, ctl; /* listening sockets */
  int sfd;         /* signalfd for SIGCHLD */
  struct log_file log;
  struct log_stream out, errs;
  int clients[MAX_CLIENTS];
  bool client_eof[MAX_CLIENTS]; /* its input ended: poll it no more for reading */
  int ctl_clients[MAX_CLIENTS];
  pid_t container; /* the container's first process, once created */
  bool exited;
  int status; /* its wait status, once exited */
};

/* monitor.c: reports a failure that the monitor goes on after, in monitor.log; frees it. */
void monitor_warn(struct berth_error **err);

/* monitor-create.c: runs berth-helper (or the runtime's create), forwards its reply to
 * berth and closes the reply fd; with a tty, takes the pty master. Sets m->container, or
 * leaves it -1 when the container was not created (the reply told berth why). -1 with
 * *err when the monitor itself failed, before any reply. */
int monitor_create(struct monitor *m, struct berth_error **err);

/* monitor-io.c */
/* A listening unix socket at `name` (relative to the cwd), 0600, non-blocking. */
int listen_at(const char *name, struct berth_error **err);
/* Binds each --hold-port, close-on-exec, for the monitor's life. A port that cannot be
 * bound fails with stage "port" and docker's message, which berth shows as it is. */
int hold_ports(const struct monitor_options *opts, struct berth_error **err);
/* Output ready on *fd (the pty master, or the stdout or stderr pipe): to the log and to
 * every attach client (stdcopy stream `stream_no` without a tty); closes *fd at its end. */
void on_output(struct monitor *m, int *fd, struct log_stream *stream, int stream_no);
void on_attach_accept(struct monitor *m);
/* Input from attach client i goes to the container's stdin; its end ends that stdin. */
void on_attach_input(struct monitor *m, int i);
void on_ctl_accept(struct monitor *m);
/* A line from ctl client i ("resize ROWS COLS"); revents tells whether it hung up. */
void on_ctl_input(struct monitor *m, int i, short revents);

/* monitor-exit.c */
/* The "oom_kill N" count of oom_file; 0 without one. */
unsigned long long oom_kills(const char *oom_file);
/* SIGCHLD: reaps every child (the monitor is a subreaper), noting the container's status. */
void on_child_exit(struct monitor *m);
/* Once the container exited and its output is drained: closes the log, writes exit.json,
 * removes the sockets and runs the exit command unless a client is still attached. */
void monitor_finish(struct monitor *m);

#endif
