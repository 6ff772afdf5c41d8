/* Exec into a running container: the helper stays as the parent of the process it started
 * in the container's namespaces, relays a pty when there is one, forwards signals, and
 * exits with the process's status (128+N for signal N), as `docker exec` reports it. */
#ifndef BERTH_EXEC_H
#define BERTH_EXEC_H

#include "util.h"
#include <sys/types.h>

/* In the container: opens a pty from its /dev/ptmx, makes the slave its stdio and
 * controlling terminal (and /dev/console when mount_console), and sends the master over
 * console_fd. */
int setup_console(int console_fd, int mount_console, struct berth_error **err);

/* PLAN_EXEC_PIPES: the pipes an exec'd process without a terminal gets for its stdio, so
 * that it never holds berth's own fds (the caller's terminal). child[i] becomes the
 * process's fd i; parent[i] is the helper's end (fd 0 of the process: only with stdin,
 * else it keeps the helper's /dev/null). -1 where there is none. */
struct exec_pipes {
  int child[3];
  int parent[3];
};

/* Opens the pipes (O_CLOEXEC). */
int exec_pipes_open(struct exec_pipes *p, int with_stdin, struct berth_error **err);
/* In the process: makes the child ends its fds 0-2 (the rest go when it closes every fd). */
int exec_pipes_child(const struct exec_pipes *p, struct berth_error **err);

/* Waits for pid, relaying master (if >= 0), or the parent ends of pipes (if not NULL), to
 * and from the helper's stdio; returns the exit status. */
int exec_session(pid_t pid, int master, struct exec_pipes *pipes);

#endif
