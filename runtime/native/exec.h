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

/* Waits for pid, relaying master (if >= 0) to and from the helper's stdio; returns the exit status. */
int exec_session(pid_t pid, int master);

#endif
