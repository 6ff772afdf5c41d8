/* The container's filesystem: rootfs (overlay or bind), mounts, devices and symlinks
 * resolved inside the rootfs and mounted through fds, pivot_root, masked and read-only
 * paths. Runs in the container's own mount namespace. */
#ifndef BERTH_MOUNT_H
#define BERTH_MOUNT_H

#include "plan.h"
#include <stdbool.h>
#include <sys/types.h>

/* Opens path inside the tree at rootfd as if rootfd were "/" (openat2 RESOLVE_IN_ROOT). */
int open_in_root(int rootfd, const char *path, int flags, struct berth_error **err);
/* Creates the directories of path inside rootfd (and, when file, path itself as an empty
 * file), never following a symlink out of rootfd; returns an O_PATH fd of path. */
int mkdir_in_root(int rootfd, const char *path, bool file, struct berth_error **err);
/* Mounts the rootfs, runs the mount, device and symlink records in order; returns an
 * O_PATH fd of the rootfs. */
int setup_rootfs(const struct plan *plan, struct berth_error **err);
/* Bind mounts what srcfd names onto dst relative to dstfd (dst "" for dstfd itself),
 * through the fds, never a path that could be swapped: open_tree and move_mount, or
 * /proc/self/fd where the kernel has neither. */
int bind_fd(int srcfd, int dstfd, const char *dst, struct berth_error **err);
/* pivot_root into rootfd and detach the old root. */
int pivot_into(int rootfd, struct berth_error **err);
/* Masked and read-only paths, and the read-only root, after pivot_root. */
int finish_rootfs(const struct plan *plan, struct berth_error **err);

#endif
