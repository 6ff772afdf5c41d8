/* The plan berth-helper executes and the lines it and berth-monitor report. Mirrored in
 * runtime/protocol.ts: change both together and bump BERTH_PLAN_VERSION.
 *
 * A plan is "BPLN", a u32 version, then records: u16 tag, u16 zero, u32 length, payload.
 * Integers are little-endian. Strings are the payload's bytes (no NUL inside); lists of
 * strings are NUL-separated. The plan ends with PLAN_END. The order of PLAN_MOUNT,
 * PLAN_DEVICE, PLAN_SYMLINK, PLAN_MASK and PLAN_READONLY records is the order they run in.
 *
 * Replies are JSON lines: {"type":"created","pid":N} once the container process waits to
 * be started (with PLAN_HOLD: once the rootfs is mounted, N being the helper itself),
 * {"type":"error","stage":S,"errno":E,"message":M} when a step failed. */
#ifndef BERTH_PROTO_H
#define BERTH_PROTO_H

#define BERTH_PLAN_MAGIC "BPLN"
#define BERTH_PLAN_VERSION 5
#define BERTH_PLAN_MAX (4u << 20)

/* Environment variables holding inherited fd numbers. */
#define BERTH_ENV_PLAN_FD "_BERTH_PLAN_FD"
#define BERTH_ENV_REPLY_FD "_BERTH_REPLY_FD"
/* With PLAN_TTY: a unix socket the container's pty master is sent over (SCM_RIGHTS). */
#define BERTH_ENV_CONSOLE_FD "_BERTH_CONSOLE_FD"

enum plan_tag {
  PLAN_END = 0,
  PLAN_NS_NEW = 1,  /* u32 CLONE_NEW* flags to create */
  PLAN_NS_JOIN = 2, /* u32 CLONE_NEW* type, then the namespace file's path */
  /* A cgroup v1 `tasks` file: the helper writes "0" to it before anything else. The helper
   * is single-threaded, so moving its one thread moves the process, and the kernel does not
   * take the threadgroup lock for it (cgroup_procs_write_start), whose first writer waits a
   * whole RCU grace period: about 10 ms here for every container through cgroup.procs. */
  PLAN_CGROUP_TASKS = 3,
  PLAN_ROOTFS = 4,         /* host directory the rootfs is mounted on */
  PLAN_OVERLAY = 5,        /* overlay options (lowerdir=..,upperdir=..,workdir=..) for ROOTFS */
  PLAN_MOUNT = 6,          /* u64 MS_* flags, then "source\0target\0fstype\0data" */
  PLAN_DEVICE = 7,         /* u32 mode (with S_IFCHR/S_IFBLK), u32 major, u32 minor, u32 uid, u32 gid, path */
  PLAN_SYMLINK = 8,        /* "target\0linkpath" */
  PLAN_MASK = 9,           /* path hidden with /dev/null or an empty read-only tmpfs */
  PLAN_READONLY = 10,      /* path bind-mounted read-only over itself */
  PLAN_HOSTNAME = 11,      /* string */
  PLAN_RLIMIT = 12,        /* u32 RLIMIT_*, u64 soft, u64 hard */
  PLAN_USER = 13,          /* u32 uid, u32 gid, u32 additional gids... */
  PLAN_CAPS = 14,          /* u64 bounding, effective, permitted, inheritable, ambient */
  PLAN_NO_NEW_PRIVS = 15,  /* empty */
  PLAN_CWD = 16,           /* string, inside the rootfs */
  PLAN_ENV = 17,           /* "KEY=VALUE", repeated */
  PLAN_ARG = 18,           /* argv element, repeated */
  PLAN_EXEC_FIFO = 19,     /* fifo opened for writing before exec: blocks until started */
  PLAN_ROOT_READONLY = 20, /* empty: remount the rootfs read-only at the end */
  PLAN_TTY = 21,           /* empty: stdin is a pty slave; become session leader with it */
  PLAN_PROPAGATION = 22,   /* u64 MS_* propagation for "/" (default MS_SLAVE|MS_REC) */
  PLAN_SYSCTL = 23,        /* "key\0value" */
  PLAN_OOM_SCORE_ADJ = 24, /* i32 */
  PLAN_DOMAINNAME = 25,    /* string */
  PLAN_UMASK = 26,         /* u32 */
  PLAN_INIT = 27,          /* empty: fork the command under a reaping init that forwards signals */
  PLAN_EXEC_WAIT =
      28, /* empty: exec into a running container: wait for the process, relay its tty, exit with its status */
  PLAN_CONSOLE_SOCKET = 29, /* path of a unix socket to send the pty master to (runc's --console-socket) */
  /* A cgroup2 leaf directory: the container process is cloned straight into it
   * (clone3 CLONE_INTO_CGROUP, read side of the threadgroup lock only); on kernels before
   * 5.7 the helper joins it through its cgroup.procs instead. */
  PLAN_CGROUP2 = 30,
  /* Empty: hold the rootfs instead of creating a container (`berth cp` of a container that
   * is not running). The helper joins the cgroup itself, and in its new mount namespace
   * (PLAN_NS_NEW, CLONE_NEWNS only) mounts PLAN_ROOTFS with PLAN_OVERLAY, the PLAN_MOUNT
   * records (bind mounts only) and PLAN_ROOT_READONLY; it chroots into the rootfs, replies
   * "created" with its own pid, so that /proc/PID/root is the container's root, and waits
   * until its stdin reaches end of file (berth is done, or gone). It then exits, and the
   * namespace and its mounts go with it: nothing is ever mounted on the host. */
  PLAN_HOLD = 31,
  /* u32 flags (BERTH_DEVICE_FILTER_*): before the container process is cloned into the
   * PLAN_CGROUP2 leaf, attach a BPF device program built from the PLAN_DEVICE_RULE records
   * to it, replacing the one a previous run left there. */
  PLAN_DEVICE_FILTER = 32,
  /* One rule of the device program, in order (the last that matches a request decides,
   * none: deny): u32 allow (0 or 1), u32 type (BPF_DEVCG_DEV_BLOCK or _CHAR, 0 for both),
   * i32 major and i32 minor (-1 for any), u32 access (BPF_DEVCG_ACC_* bits). */
  PLAN_DEVICE_RULE = 33,
  /* u32 flags (BERTH_EXEC_PIPE_*), with PLAN_EXEC_WAIT and no PLAN_TTY: the process's stdout
   * and stderr (and with STDIN its stdin; else it keeps the helper's) are pipes the helper
   * relays to and from its own, never the helper's fds themselves, which may be the
   * caller's terminal (docker and podman give an exec without a tty pipes too). */
  PLAN_EXEC_PIPES = 34,
  PLAN_TAG_MAX = 35,
};

/* PLAN_EXEC_PIPES flags. */
#define BERTH_EXEC_PIPE_STDIN 1u

/* PLAN_DEVICE_FILTER flags. OPTIONAL: another mechanism (the v1 devices controller) enforces
 * the same rules, so a host that cannot load or attach device programs runs without it. */
#define BERTH_DEVICE_FILTER_OPTIONAL 1u

/* Exit codes of the helper itself: 0 when the container was created. */
#define BERTH_HELPER_FAILED 125

#endif
