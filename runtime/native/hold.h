/* PLAN_HOLD (proto.h): a container's filesystem, mounted in a mount namespace of the
 * helper's own for as long as berth needs it (`berth cp` of a container that is not
 * running), without a container process. */
#ifndef BERTH_HOLD_H
#define BERTH_HOLD_H

#include "plan.h"

/* Mounts the rootfs and its bind mounts (setup_rootfs), chroots into it, reports
 * {"type":"created","pid":<own pid>} on reply_fd and blocks until stdin reaches end of file.
 * Runs in the helper after it has unshared its mount namespace. Returns 0 once released. */
int hold_rootfs(const struct plan *plan, int reply_fd, struct berth_error **err);

#endif
