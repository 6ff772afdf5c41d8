/* See hold.h. */
#define _GNU_SOURCE
#include "hold.h"
#include "mount.h"
#include "proto.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

/* Returns when the other end of stdin is closed: berth closes it when the copy is done,
 * and the kernel closes it when berth dies, however it dies. */
static void wait_for_eof(void) {
  char buf[256];
  for (;;) {
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

int hold_rootfs(const struct plan *plan, int reply_fd, struct berth_error **err) {
  /* Besides end of file on stdin: the holder never outlives the berth that started it, even
   * if something else holds a copy of the pipe. */
  if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0) return berth_fail(err, errno, "hold", "PR_SET_PDEATHSIG");
  /* setup_rootfs makes `/` a slave first (the plan sets no propagation): none of the mounts
   * below reaches the host's mount namespace. */
  cleanup_close int rootfd = setup_rootfs(plan, err);
  if (rootfd < 0) return -1;
  /* --read-only: as the container sees it (finish_rootfs does this after pivot_root). The fd
   * is the overlay's root, so the remount applies to the overlay alone, not to the bind
   * mounts on it. */
  if (plan_find(plan, PLAN_ROOT_READONLY) != NULL) {
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", rootfd);
    if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
      return berth_fail(err, errno, "rootfs", "remount the rootfs read-only");
  }
  /* /proc/PID/root of this process is then the container's root, as a running container's
   * first process has it after pivot_root. */
  if (fchdir(rootfd) < 0) return berth_fail(err, errno, "hold", "chdir into the rootfs");
  if (chroot(".") < 0) return berth_fail(err, errno, "hold", "chroot into the rootfs");
  if (chdir("/") < 0) return berth_fail(err, errno, "hold", "chdir to the new root");
  if (reply_fd >= 0) {
    if (dprintf(reply_fd, "{\"type\":\"created\",\"pid\":%d}\n", getpid()) < 0)
      return berth_fail(err, errno, "hold", "report the held rootfs");
    close(reply_fd);
  }
  wait_for_eof();
  return 0;
}
