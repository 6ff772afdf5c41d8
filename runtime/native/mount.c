/* See mount.h. */
#define _GNU_SOURCE
#include "mount.h"
#include "proto.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define MS_PROPAGATION (MS_SHARED | MS_SLAVE | MS_PRIVATE | MS_UNBINDABLE)

int open_in_root(int rootfd, const char *path, int flags, struct berth_error **err) {
  struct open_how how = {.flags = (uint64_t)(flags | O_CLOEXEC), .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof(how));
  if (fd < 0) return berth_fail(err, errno, "mount", "open `%s` in the rootfs", path);
  return fd;
}

int mkdir_in_root(int rootfd, const char *path, bool file, struct berth_error **err) {
  char prefix[4096];
  size_t plen = strlen(path);
  if (plen >= sizeof(prefix)) return berth_fail(err, ENAMETOOLONG, "mount", "path `%s`", path);
  int dirfd = fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  if (dirfd < 0) return berth_fail(err, errno, "mount", "dup the rootfs fd");
  /* Each prefix is resolved from the root with RESOLVE_IN_ROOT, so "..", absolute
   * symlinks and symlinks to the host's paths all stay below rootfd; a missing component
   * is created in the directory its parent prefix resolved to, by name (mkdirat never
   * follows a symlink in the last component). */
  size_t i = 0;
  while (i < plen) {
    while (i < plen && path[i] == '/')
      i++;
    if (i >= plen) break;
    size_t start = i;
    while (i < plen && path[i] != '/')
      i++;
    memcpy(prefix, path, i);
    prefix[i] = '\0';
    bool last = i >= plen || path[i + strspn(path + i, "/")] == '\0';
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    int fd = (int)syscall(SYS_openat2, rootfd, prefix, &how, sizeof(how));
    if (fd < 0 && errno == ENOENT) {
      char name[256];
      if (i - start >= sizeof(name)) {
        close(dirfd);
        return berth_fail(err, ENAMETOOLONG, "mount", "path `%s`", path);
      }
      memcpy(name, path + start, i - start);
      name[i - start] = '\0';
      int rc = last && file ? mknodat(dirfd, name, S_IFREG | 0644, 0) : mkdirat(dirfd, name, 0755);
      if (rc < 0 && errno != EEXIST) {
        int e = errno;
        close(dirfd);
        return berth_fail(err, e, "mount", "create `%s` in the rootfs", prefix);
      }
      fd = (int)syscall(SYS_openat2, rootfd, prefix, &how, sizeof(how));
    }
    if (fd < 0) {
      int e = errno;
      close(dirfd);
      return berth_fail(err, e, "mount", "open `%s` in the rootfs", prefix);
    }
    close(dirfd);
    dirfd = fd;
  }
  return dirfd;
}

static void fdpath(char *buf, size_t len, int fd) {
  snprintf(buf, len, "/proc/self/fd/%d", fd);
}

/* One PLAN_MOUNT: u64 flags, then source, target, fstype, data. */
static int do_mount(int rootfd, const struct plan_record *r, struct berth_error **err) {
  unsigned long flags = (unsigned long)rec_u64(r, 0);
  char *parts[4] = {0};
  size_t n = rec_strs(r, 8, parts, 4);
  int rc = -1;
  int target = -1;
  if (n != 4) {
    berth_fail(err, EINVAL, "mount", "malformed mount record");
    goto out;
  }
  const char *source = parts[0], *dest = parts[1], *fstype = parts[2], *data = parts[3];
  bool bind = (flags & MS_BIND) != 0;
  bool file = false;
  if (bind) {
    struct stat st;
    if (stat(source, &st) < 0) {
      berth_fail(err, errno, "mount", "bind mount source `%s`", source);
      goto out;
    }
    file = !S_ISDIR(st.st_mode);
  }
  target = mkdir_in_root(rootfd, dest, file, err);
  if (target < 0) {
    berth_error_prefix(err, "mount `%s`", dest);
    goto out;
  }
  char tpath[64];
  fdpath(tpath, sizeof(tpath), target);
  unsigned long base = bind ? MS_BIND | (flags & MS_REC) : flags & ~MS_PROPAGATION;
  if (mount(*source ? source : "none", tpath, bind ? NULL : fstype, base, bind || !*data ? NULL : data) < 0) {
    berth_fail(err, errno, "mount", "mount %s `%s` on `%s`", bind ? "bind" : fstype, source, dest);
    goto out;
  }
  /* The fd above is the directory under the new mount: reopen the target so that a
   * remount (a bind mount takes its other flags only then, mount(2)) and a propagation
   * change apply to the new mount itself. */
  unsigned long extra = flags & ~(MS_BIND | MS_REC | MS_PROPAGATION);
  if ((bind && extra != 0) || (flags & MS_PROPAGATION)) {
    close(target);
    target = open_in_root(rootfd, dest, O_PATH, err);
    if (target < 0) goto out;
    fdpath(tpath, sizeof(tpath), target);
  }
  if (bind && extra != 0 && mount(NULL, tpath, NULL, MS_REMOUNT | MS_BIND | extra, NULL) < 0) {
    berth_fail(err, errno, "mount", "remount `%s` with its options", dest);
    goto out;
  }
  if ((flags & MS_PROPAGATION) && mount(NULL, tpath, NULL, flags & (MS_PROPAGATION | MS_REC), NULL) < 0) {
    berth_fail(err, errno, "mount", "set the propagation of `%s`", dest);
    goto out;
  }
  rc = 0;
out:
  if (target >= 0) close(target);
  for (size_t i = 0; i < n; i++)
    free(parts[i]);
  return rc;
}

/* The node `name` in dfd is the device asked for: same type and number. */
static bool is_device(const struct stat *st, mode_t mode, dev_t dev) {
  return (st->st_mode & S_IFMT) == (mode & S_IFMT) && st->st_rdev == dev;
}

/* Makes the device node `name` in the directory dfd, or keeps one already there that is
 * the same device. Whatever else is there (a symlink an earlier container left in a /dev
 * volume, a regular file) is removed and replaced: nothing is ever followed. A directory
 * is an error. */
static int make_node(int dfd, const char *name, mode_t mode, dev_t dev, const char *path, struct berth_error **err) {
  if (mknodat(dfd, name, mode, dev) == 0) return 0;
  if (errno != EEXIST) return berth_fail(err, errno, "device", "mknod `%s`", path);
  struct stat st;
  if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) return berth_fail(err, errno, "device", "stat `%s`", path);
  if (is_device(&st, mode, dev)) return 0;
  if (S_ISDIR(st.st_mode))
    return berth_fail(err, EEXIST, "device", "`%s` is a directory, not the device to create there", path);
  if (unlinkat(dfd, name, 0) < 0)
    return berth_fail(err, errno, "device", "remove `%s`, which is not the device to create there", path);
  if (mknodat(dfd, name, mode, dev) < 0) return berth_fail(err, errno, "device", "mknod `%s`", path);
  return 0;
}

/* One PLAN_DEVICE: u32 mode, major, minor, uid, gid, then the path. The node is made
 * relative to its directory resolved inside the rootfs, and owner and mode are set through
 * an O_PATH|O_NOFOLLOW fd of the node itself, checked to be that device: no step follows a
 * symlink, so a prepared /dev cannot turn them onto a host file before pivot_root. */
static int do_device(int rootfd, const struct plan_record *r, struct berth_error **err) {
  mode_t mode = rec_u32(r, 0);
  dev_t dev = makedev(rec_u32(r, 4), rec_u32(r, 8));
  uid_t uid = rec_u32(r, 12);
  gid_t gid = rec_u32(r, 16);
  cleanup_free char *path = rec_str(r, 20);
  if (path == NULL) return berth_fail(err, ENOMEM, "device", "allocate");
  char *slash = strrchr(path, '/');
  if (slash == NULL || slash[1] == '\0')
    return berth_fail(err, EINVAL, "device", "device path `%s` is not absolute", path);
  *slash = '\0';
  cleanup_close int dir = *path ? mkdir_in_root(rootfd, path, false, err) : fcntl(rootfd, F_DUPFD_CLOEXEC, 3);
  *slash = '/';
  if (dir < 0) return -1;
  const char *name = slash + 1;
  if (make_node(dir, name, mode, dev, path, err) < 0) return -1;
  cleanup_close int node = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (node < 0) return berth_fail(err, errno, "device", "open `%s`", path);
  struct stat st;
  if (fstat(node, &st) < 0) return berth_fail(err, errno, "device", "stat `%s`", path);
  if (!is_device(&st, mode, dev)) return berth_fail(err, EEXIST, "device", "`%s` changed while it was made", path);
  if (fchownat(node, "", uid, gid, AT_EMPTY_PATH) < 0) return berth_fail(err, errno, "device", "chown `%s`", path);
  /* chmod(2) has no AT_EMPTY_PATH before fchmodat2 (Linux 6.6); the fd's magic link names
   * the node just checked, whatever its path now leads to. */
  char fpath[64];
  fdpath(fpath, sizeof(fpath), node);
  if (chmod(fpath, mode & 07777) < 0 && errno != EOPNOTSUPP)
    return berth_fail(err, errno, "device", "chmod `%s`", path);
  return 0;
}

static int do_symlink(int rootfd, const struct plan_record *r, struct berth_error **err) {
  char *parts[2] = {0};
  size_t n = rec_strs(r, 0, parts, 2);
  int rc = -1;
  if (n != 2) {
    berth_fail(err, EINVAL, "mount", "malformed symlink record");
    goto out;
  }
  char *slash = strrchr(parts[1], '/');
  if (slash == NULL || slash[1] == '\0') {
    berth_fail(err, EINVAL, "mount", "symlink path `%s` is not absolute", parts[1]);
    goto out;
  }
  *slash = '\0';
  int dir = mkdir_in_root(rootfd, *parts[1] ? parts[1] : "/", false, err);
  *slash = '/';
  if (dir < 0) goto out;
  int dfd = dir;
  if (symlinkat(parts[0], dfd, slash + 1) < 0 && errno != EEXIST) {
    berth_fail(err, errno, "mount", "symlink `%s` -> `%s`", parts[1], parts[0]);
    close(dfd);
    goto out;
  }
  close(dfd);
  rc = 0;
out:
  for (size_t i = 0; i < n; i++)
    free(parts[i]);
  return rc;
}

int setup_rootfs(const struct plan *plan, struct berth_error **err) {
  const struct plan_record *rootrec = plan_find(plan, PLAN_ROOTFS);
  if (rootrec == NULL) return berth_fail(err, EINVAL, "rootfs", "the plan has no rootfs");
  cleanup_free char *rootfs = rec_str(rootrec, 0);
  const struct plan_record *prop = plan_find(plan, PLAN_PROPAGATION);
  unsigned long propagation = prop ? (unsigned long)rec_u64(prop, 0) : MS_SLAVE | MS_REC;
  /* Nothing mounted from here on reaches the host's mount namespace. */
  if (mount(NULL, "/", NULL, propagation, NULL) < 0)
    return berth_fail(err, errno, "rootfs", "make `/` %s", propagation & MS_PRIVATE ? "private" : "a slave");
  const struct plan_record *overlay = plan_find(plan, PLAN_OVERLAY);
  if (overlay != NULL) {
    cleanup_free char *data = rec_str(overlay, 0);
    if (mount("overlay", rootfs, "overlay", 0, data) < 0)
      return berth_fail(err, errno, "rootfs", "mount the overlay rootfs on `%s`", rootfs);
  } else if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) {
    return berth_fail(err, errno, "rootfs", "bind mount the rootfs `%s`", rootfs);
  }
  int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return berth_fail(err, errno, "rootfs", "open the rootfs `%s`", rootfs);
  for (size_t i = 0; i < plan->nrecords; i++) {
    const struct plan_record *r = &plan->records[i];
    int rc = 0;
    if (r->tag == PLAN_MOUNT)
      rc = do_mount(rootfd, r, err);
    else if (r->tag == PLAN_DEVICE)
      rc = do_device(rootfd, r, err);
    else if (r->tag == PLAN_SYMLINK)
      rc = do_symlink(rootfd, r, err);
    if (rc < 0) {
      close(rootfd);
      return -1;
    }
  }
  return rootfd;
}

int pivot_into(int rootfd, struct berth_error **err) {
  if (fchdir(rootfd) < 0) return berth_fail(err, errno, "pivot_root", "chdir into the rootfs");
  /* pivot_root(".", "."), then detach the old root stacked under the new one: no
   * directory for the old root is needed inside the image (pivot_root(2), NOTES). */
  if (syscall(SYS_pivot_root, ".", ".") < 0) return berth_fail(err, errno, "pivot_root", "pivot_root into the rootfs");
  if (mount(NULL, ".", NULL, MS_SLAVE | MS_REC, NULL) < 0)
    return berth_fail(err, errno, "pivot_root", "make the old root a slave");
  if (umount2(".", MNT_DETACH) < 0) return berth_fail(err, errno, "pivot_root", "detach the old root");
  if (chdir("/") < 0) return berth_fail(err, errno, "pivot_root", "chdir to the new root");
  return 0;
}

int bind_fd(int srcfd, int dstfd, const char *dst, struct berth_error **err) {
  /* open_tree + move_mount (Linux 5.2) take both ends as fds; after pivot_root the
   * /proc/self/fd paths of the fallback resolve through the container's own /proc. */
  int tree = (int)syscall(SYS_open_tree, srcfd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH);
  if (tree >= 0) {
    int rc = (int)syscall(SYS_move_mount, tree, "", dstfd, dst,
                          MOVE_MOUNT_F_EMPTY_PATH | (*dst ? 0 : MOVE_MOUNT_T_EMPTY_PATH));
    int e = errno;
    close(tree);
    if (rc < 0) return berth_fail(err, e, "mount", "move_mount");
    return 0;
  }
  if (errno != ENOSYS) return berth_fail(err, errno, "mount", "open_tree");
  char source[64], target[64];
  fdpath(source, sizeof(source), srcfd);
  if (*dst == '\0') fdpath(target, sizeof(target), dstfd);
  if (mount(source, *dst ? dst : target, NULL, MS_BIND, NULL) < 0) return berth_fail(err, errno, "mount", "bind mount");
  return 0;
}

/* The container's /dev/null, to mask files with: an O_PATH fd of the node itself, checked
 * to be the null device (1:3), as runc checks it since CVE-2025-31133. Binding the path
 * would follow whatever is there: a symlink from a prepared /dev volume to a file would be
 * bound, writable, over /proc/timer_list. */
static int open_dev_null(struct berth_error **err) {
  int fd = open("/dev/null", O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return berth_fail(err, errno, "masked-paths", "open `/dev/null` to mask paths with");
  struct stat st;
  if (fstat(fd, &st) < 0) {
    int e = errno;
    close(fd);
    return berth_fail(err, e, "masked-paths", "stat `/dev/null`");
  }
  if (!S_ISCHR(st.st_mode) || st.st_rdev != makedev(1, 3)) {
    close(fd);
    return berth_fail(
        err, EINVAL, "masked-paths",
        "`/dev/null` is not the null device (character device 1:3): masked paths cannot be masked with it");
  }
  return fd;
}

static int mask_path(const char *path, int *devnull, struct berth_error **err) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT) return 0;
    return berth_fail(err, errno, "masked-paths", "stat `%s`", path);
  }
  /* A directory gets an empty read-only tmpfs, anything else /dev/null (which the plan's
   * default devices put in place before this runs), bound from its checked fd. */
  if (S_ISDIR(st.st_mode)) {
    if (mount("tmpfs", path, "tmpfs", MS_RDONLY, "size=0k") < 0)
      return berth_fail(err, errno, "masked-paths", "mask `%s`", path);
    return 0;
  }
  if (*devnull < 0 && (*devnull = open_dev_null(err)) < 0) return berth_error_prefix(err, "mask `%s`", path);
  if (bind_fd(*devnull, AT_FDCWD, path, err) < 0) return berth_error_prefix(err, "mask `%s`", path);
  return 0;
}

static int readonly_path(const char *path, struct berth_error **err) {
  if (mount(path, path, NULL, MS_BIND | MS_REC, NULL) < 0) {
    if (errno == ENOENT) return 0;
    return berth_fail(err, errno, "readonly-paths", "bind `%s`", path);
  }
  if (mount(NULL, path, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
    return berth_fail(err, errno, "readonly-paths", "remount `%s` read-only", path);
  return 0;
}

int finish_rootfs(const struct plan *plan, struct berth_error **err) {
  cleanup_close int devnull = -1;
  for (size_t i = 0; i < plan->nrecords; i++) {
    const struct plan_record *r = &plan->records[i];
    if (r->tag != PLAN_MASK && r->tag != PLAN_READONLY) continue;
    cleanup_free char *path = rec_str(r, 0);
    if (path == NULL) return berth_fail(err, ENOMEM, "mount", "allocate");
    if ((r->tag == PLAN_MASK ? mask_path(path, &devnull, err) : readonly_path(path, err)) < 0) return -1;
  }
  if (plan_find(plan, PLAN_ROOT_READONLY) != NULL) {
    if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
      return berth_fail(err, errno, "rootfs", "remount the rootfs read-only");
  }
  return 0;
}
