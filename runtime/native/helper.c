/* berth-helper: executes a container plan (proto.h) read from an inherited pipe. It joins
 * the cgroup and the namespaces to join, creates the new ones, and forks the container's
 * first process, which sets up its rootfs, pivots into it, takes its identity and waits on
 * the exec fifo (the OCI create/start split) before it execs. The helper reports
 * {"type":"created","pid":N} and exits; the monitor, a subreaper, inherits the container.
 * With PLAN_HOLD it creates no container: it mounts the rootfs of one that is not running
 * in a mount namespace of its own and holds it while berth copies files (hold.c).
 *
 * Order and checks follow the runtime spec (runtime.md "Lifecycle", config-linux.md) and
 * what runc and crun do: the helper runs from a sealed memfd copy of itself
 * (CVE-2019-5736), is not dumpable while it holds host resources, and the container gets
 * only fds 0-2 at exec. */
#define _GNU_SOURCE
#include "bpf.h"
#include "exec.h"
#include "hold.h"
#include "mount.h"
#include "plan.h"
#include "proto.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/close_range.h>
#include <linux/magic.h>
#include <linux/openat2.h>
#include <linux/sched.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SEALED_ENV "_BERTH_HELPER_SEALED"

/* Re-executes from a sealed memfd copy of the binary, so nothing in a container can write
 * to the file it runs from through /proc/PID/exe. */
static int reexec_sealed(char **argv, struct berth_error **err) {
  if (getenv(SEALED_ENV) != NULL) {
    unsetenv(SEALED_ENV);
    return 0;
  }
  cleanup_close int self = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
  if (self < 0) return berth_fail(err, errno, "helper", "open `/proc/self/exe`");
  struct stat st;
  if (fstat(self, &st) < 0) return berth_fail(err, errno, "helper", "stat `/proc/self/exe`");
  cleanup_close int mem = memfd_create("berth-helper", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (mem < 0) return berth_fail(err, errno, "helper", "memfd_create");
  off_t left = st.st_size;
  while (left > 0) {
    ssize_t n = sendfile(mem, self, NULL, (size_t)left);
    if (n <= 0) return berth_fail(err, n < 0 ? errno : EIO, "helper", "copy the helper into a memfd");
    left -= n;
  }
  if (fcntl(mem, F_ADD_SEALS, F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE) < 0)
    return berth_fail(err, errno, "helper", "seal the memfd");
  setenv(SEALED_ENV, "1", 1);
  fexecve(mem, argv, environ);
  return berth_fail(err, errno, "helper", "fexecve the sealed helper");
}

/* PLAN_DEVICE_FILTER: builds, loads and attaches the device program of the PLAN_DEVICE_RULE
 * records to the cgroup2 leaf. With BERTH_DEVICE_FILTER_OPTIONAL a host that cannot run
 * device programs goes without; a program it refuses is an error all the same. */
static int attach_device_filter(const struct plan *plan, int cgroup2_fd, const char *dir, struct berth_error **err) {
  const struct plan_record *filter = plan_find(plan, PLAN_DEVICE_FILTER);
  if (filter == NULL) return 0;
  if (cgroup2_fd < 0)
    return berth_fail(err, EINVAL, "devices", "a device program without a cgroup2 leaf to attach it to");
  bool optional = (rec_u32(filter, 0) & BERTH_DEVICE_FILTER_OPTIONAL) != 0;
  size_t n = 0;
  for (size_t i = 0; i < plan->nrecords; i++)
    n += plan->records[i].tag == PLAN_DEVICE_RULE;
  cleanup_free struct device_rule *rules = calloc(n + 1, sizeof(*rules));
  if (rules == NULL) return berth_fail(err, ENOMEM, "devices", "allocate %zu device rules", n);
  n = 0;
  for (size_t i = 0; i < plan->nrecords; i++) {
    const struct plan_record *r = &plan->records[i];
    if (r->tag != PLAN_DEVICE_RULE) continue;
    if (r->len != 20) return berth_fail(err, EINVAL, "devices", "a device rule of %u bytes, not 20", r->len);
    rules[n++] = (struct device_rule){.allow = rec_u32(r, 0) != 0,
                                      .type = rec_u32(r, 4),
                                      .major = (int32_t)rec_u32(r, 8),
                                      .minor = (int32_t)rec_u32(r, 12),
                                      .access = rec_u32(r, 16)};
  }
  cleanup_free struct bpf_insn *insns = NULL;
  size_t count = 0;
  if (device_program_build(rules, n, &insns, &count, err) < 0) return -1;
  bool unavailable = false;
  cleanup_close int prog = device_program_load(insns, count, &unavailable, err);
  if (prog < 0 || device_program_attach(cgroup2_fd, prog, &unavailable, err) < 0) {
    if (optional && unavailable) {
      free(*err);
      *err = NULL;
      return 0;
    }
    return berth_error_prefix(err, "enforce the device rules on the cgroup `%s` (cgroup v2 does it with a BPF program)",
                              dir);
  }
  return 0;
}

/* Joins the v1 hierarchies (PLAN_CGROUP_TASKS) now, and opens the cgroup2 leaf
 * (PLAN_CGROUP2) for fork_container to clone the container process into, with the device
 * program attached first. */
static int join_cgroups(const struct plan *plan, int *cgroup2_fd, struct berth_error **err) {
  const struct plan_record *v2 = plan_find(plan, PLAN_CGROUP2);
  cleanup_free char *dir = v2 != NULL ? rec_str(v2, 0) : NULL;
  if (dir != NULL) {
    /* Not O_PATH: bpf(2) takes no O_PATH fd for its target. */
    *cgroup2_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*cgroup2_fd < 0) return berth_fail(err, errno, "cgroup", "open the cgroup `%s`", dir);
  }
  if (attach_device_filter(plan, *cgroup2_fd, dir != NULL ? dir : "", err) < 0) return -1;
  for (size_t i = 0; i < plan->nrecords; i++) {
    if (plan->records[i].tag != PLAN_CGROUP_TASKS) continue;
    cleanup_free char *path = rec_str(&plan->records[i], 0);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write_all(fd, "0", 1) < 0) return berth_fail(err, errno, "cgroup", "join the cgroup `%s`", path);
  }
  return 0;
}

/* Moves this process into the cgroup2 leaf through its cgroup.procs. */
static int join_cgroup2(int cgroup2_fd, struct berth_error **err) {
  cleanup_close int procs = openat(cgroup2_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
  if (procs < 0 || write_all(procs, "0", 1) < 0) return berth_fail(err, errno, "cgroup", "join the cgroup2 leaf");
  return 0;
}

/* fork(2), but with the child born in the cgroup2 leaf when there is one. */
static pid_t fork_container(int cgroup2_fd, struct berth_error **err) {
  if (cgroup2_fd >= 0) {
    struct clone_args args = {.flags = CLONE_INTO_CGROUP, .exit_signal = SIGCHLD, .cgroup = (uint64_t)cgroup2_fd};
    /* Like fork: the helper is single-threaded and the child only execs or exits. */
    long pid = syscall(SYS_clone3, &args, sizeof(args));
    if (pid >= 0) return (pid_t)pid;
    /* Before 5.7 there is no CLONE_INTO_CGROUP (E2BIG, EINVAL) or no clone3 (ENOSYS). */
    if (errno != ENOSYS && errno != E2BIG && errno != EINVAL) {
      berth_fail(err, errno, "cgroup", "clone the container process into its cgroup");
      return -1;
    }
    if (join_cgroup2(cgroup2_fd, err) < 0) return -1;
  }
  pid_t pid = fork();
  if (pid < 0) berth_fail(err, errno, "helper", "fork the container process");
  return pid;
}

/* Opens every namespace first and joins them after: once the mount namespace is joined,
 * the other paths (under the host's /proc) would resolve in the container's. The mount
 * namespace goes last for the same reason; setns(2) into it also sets root and cwd. */
/* The container's cgroup namespace, for exec: joined by the process cloned into the
 * container's cgroup, not by the helper. On a cgroup2 mounted with nsdelegate (as systemd
 * mounts it), a process may move only between cgroups under its cgroup namespace's root:
 * the helper, still in the host's cgroup, would be refused the clone into the leaf. */
static int cgroupns_fd = -1;

static int join_namespaces(const struct plan *plan, struct berth_error **err) {
  int fds[16];
  int types[16];
  size_t n = 0;
  int rc = 0;
  for (size_t i = 0; i < plan->nrecords && rc == 0; i++) {
    if (plan->records[i].tag != PLAN_NS_JOIN) continue;
    if (n == 16) {
      rc = berth_fail(err, E2BIG, "namespaces", "too many namespaces to join");
      break;
    }
    cleanup_free char *path = rec_str(&plan->records[i], 4);
    types[n] = (int)rec_u32(&plan->records[i], 0);
    fds[n] = open(path, O_RDONLY | O_CLOEXEC);
    if (fds[n] < 0) {
      rc = berth_fail(err, errno, "namespaces", "open `%s`", path);
      break;
    }
    n++;
  }
  for (size_t i = 0; i < n && rc == 0; i++)
    if (types[i] == CLONE_NEWCGROUP) {
      cgroupns_fd = fds[i];
      fds[i] = -1;
    }
  for (int pass = 0; pass < 2 && rc == 0; pass++)
    for (size_t i = 0; i < n && rc == 0; i++)
      if (fds[i] >= 0 && (types[i] == CLONE_NEWNS) == (pass == 1) && setns(fds[i], types[i]) < 0)
        rc = berth_fail(err, errno, "namespaces", "setns 0x%x", types[i]);
  for (size_t i = 0; i < n; i++)
    if (fds[i] >= 0) close(fds[i]);
  return rc;
}

/* A new network namespace starts with lo down; containers expect it up (docker's
 * --network none has it up, as CNI's loopback plugin does). */
static int loopback_up(struct berth_error **err) {
  cleanup_close int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return berth_fail(err, errno, "network", "socket");
  struct ifreq ifr = {0};
  snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
  if (ioctl(s, SIOCGIFFLAGS, &ifr) < 0) return berth_fail(err, errno, "network", "get the flags of lo");
  ifr.ifr_flags |= IFF_UP;
  if (ioctl(s, SIOCSIFFLAGS, &ifr) < 0) return berth_fail(err, errno, "network", "bring lo up");
  return 0;
}

static const char *rlimit_name(int res) {
  static const char *names[] = {"cpu",     "fsize", "data",  "stack",      "core",     "rss",  "nproc",  "nofile",
                                "memlock", "as",    "locks", "sigpending", "msgqueue", "nice", "rtprio", "rttime"};
  return res >= 0 && res < (int)(sizeof(names) / sizeof(names[0])) ? names[res] : "unknown";
}

static int set_rlimits(const struct plan *plan, struct berth_error **err) {
  for (size_t i = 0; i < plan->nrecords; i++) {
    const struct plan_record *r = &plan->records[i];
    if (r->tag != PLAN_RLIMIT) continue;
    int res = (int)rec_u32(r, 0);
    struct rlimit lim = {.rlim_cur = rec_u64(r, 4), .rlim_max = rec_u64(r, 12)};
    if (setrlimit(res, &lim) < 0) {
      struct rlimit cur = {0};
      getrlimit(res, &cur);
      if (errno == EPERM && lim.rlim_max > cur.rlim_max)
        return berth_fail(err, EPERM, "rlimits",
                          "rlimit %s: hard limit %llu is above the current hard limit %llu, which only "
                          "CAP_SYS_RESOURCE may raise",
                          rlimit_name(res), (unsigned long long)lim.rlim_max, (unsigned long long)cur.rlim_max);
      return berth_fail(err, errno, "rlimits", "setrlimit %s", rlimit_name(res));
    }
  }
  return 0;
}

/* Writes value to /proc/<rel> of the container, but only to a file of procfs: /proc is
 * the image's to shape (a symlink into a volume prepared with a self/oom_score_adj of its
 * own), so the directory is checked to be procfs, the file is opened beneath it with no
 * magic link followed, and the file's own filesystem is checked again before the write
 * (CVE-2025-52881, what runc checks since). */
static int write_proc(const char *rel, const char *value, struct berth_error **err, const char *stage) {
  cleanup_close int proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (proc < 0) return berth_fail(err, errno, stage, "open `/proc` to write `/proc/%s`", rel);
  struct statfs sfs;
  if (fstatfs(proc, &sfs) < 0) return berth_fail(err, errno, stage, "statfs `/proc`");
  if (sfs.f_type != PROC_SUPER_MAGIC)
    return berth_fail(err, EINVAL, stage, "write `/proc/%s`: `/proc` is not procfs (filesystem 0x%lx)", rel,
                      (unsigned long)sfs.f_type);
  struct open_how how = {.flags = O_WRONLY | O_NOCTTY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS};
  cleanup_close int fd = (int)syscall(SYS_openat2, proc, rel, &how, sizeof(how));
  if (fd < 0) return berth_fail(err, errno, stage, "open `/proc/%s`", rel);
  if (fstatfs(fd, &sfs) < 0) return berth_fail(err, errno, stage, "statfs `/proc/%s`", rel);
  if (sfs.f_type != PROC_SUPER_MAGIC)
    return berth_fail(err, EINVAL, stage, "write `/proc/%s`: it is not a procfs file (filesystem 0x%lx)", rel,
                      (unsigned long)sfs.f_type);
  if (write_all(fd, value, strlen(value)) < 0) return berth_fail(err, errno, stage, "write `/proc/%s`", rel);
  return 0;
}

/* PLAN_SYSCTL: key (dots or slashes) and value, written under /proc/sys. Called after
 * pivot_root and before the read-only paths: /proc/sys is one of them. */
static int set_sysctls(const struct plan *plan, struct berth_error **err) {
  for (size_t i = 0; i < plan->nrecords; i++) {
    if (plan->records[i].tag != PLAN_SYSCTL) continue;
    char *kv[2] = {0};
    if (rec_strs(&plan->records[i], 0, kv, 2) != 2) {
      free(kv[0]);
      free(kv[1]);
      return berth_fail(err, EINVAL, "sysctl", "malformed sysctl record");
    }
    char path[512];
    snprintf(path, sizeof(path), "sys/%s", kv[0]);
    for (char *p = path + 4; *p; p++)
      if (*p == '.') *p = '/';
    int rc = write_proc(path, kv[1], err, "sysctl");
    free(kv[0]);
    free(kv[1]);
    if (rc < 0) return -1;
  }
  return 0;
}

static int set_identity(const struct plan *plan, struct berth_error **err) {
  const struct plan_record *caps = plan_find(plan, PLAN_CAPS);
  const struct plan_record *user = plan_find(plan, PLAN_USER);
  int last_cap = CAP_LAST_CAP;
  cleanup_close int lc = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);
  if (lc >= 0) {
    char buf[16] = {0};
    if (read(lc, buf, sizeof(buf) - 1) > 0) last_cap = atoi(buf);
  }
  if (caps != NULL) {
    uint64_t bounding = rec_u64(caps, 0);
    for (int c = 0; c <= last_cap; c++)
      if (!(bounding & (1ULL << c)) && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
        return berth_fail(err, errno, "capabilities", "drop capability %d from the bounding set", c);
  }
  if (user != NULL) {
    uid_t uid = rec_u32(user, 0);
    gid_t gid = rec_u32(user, 4);
    size_t ngroups = user->len >= 8 ? (user->len - 8) / 4 : 0;
    gid_t groups[256];
    if (ngroups > 256) return berth_fail(err, E2BIG, "user", "%zu supplementary groups, at most 256", ngroups);
    for (size_t i = 0; i < ngroups; i++)
      groups[i] = rec_u32(user, 8 + 4 * i);
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return berth_fail(err, errno, "user", "PR_SET_KEEPCAPS");
    if (setgroups(ngroups, groups) < 0) return berth_fail(err, errno, "user", "setgroups");
    if (setresgid(gid, gid, gid) < 0) return berth_fail(err, errno, "user", "setresgid %u", gid);
    if (setresuid(uid, uid, uid) < 0) return berth_fail(err, errno, "user", "setresuid %u", uid);
    if (prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0) return berth_fail(err, errno, "user", "PR_SET_KEEPCAPS");
  }
  if (caps != NULL) {
    uint64_t eff = rec_u64(caps, 8), perm = rec_u64(caps, 16), inh = rec_u64(caps, 24), amb = rec_u64(caps, 32);
    struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct data[2] = {
        {.effective = (uint32_t)eff, .permitted = (uint32_t)perm, .inheritable = (uint32_t)inh},
        {.effective = (uint32_t)(eff >> 32), .permitted = (uint32_t)(perm >> 32), .inheritable = (uint32_t)(inh >> 32)},
    };
    if (syscall(SYS_capset, &hdr, data) < 0) return berth_fail(err, errno, "capabilities", "capset");
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
      return berth_fail(err, errno, "capabilities", "clear the ambient set");
    for (int c = 0; c <= last_cap; c++)
      if ((amb & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) < 0)
        return berth_fail(err, errno, "capabilities", "raise ambient capability %d", c);
  }
  return 0;
}

/* An exec error in docker's words, which already say what errno would: the message gets
 * no strerror, the errno still decides 126 or 127. */
static int exec_fail(struct berth_error **err, int errnum, const char *fmt, const char *cmd) {
  berth_fail(err, 0, "exec", fmt, cmd);
  if (err != NULL && *err != NULL) (*err)->errnum = errnum;
  return -1;
}

/* --init: this process stays PID 1, reaps every orphan and forwards signals to the command,
 * which it forks in its own process group (the terminal's foreground group with a tty);
 * it exits with the command's status. Only the child returns, to exec the command. */
static void run_init(bool tty) {
  sigset_t all, old;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &old);
  pid_t child = fork();
  if (child < 0) {
    dprintf(2, "berth: init: fork: %s\n", strerror(errno));
    _exit(BERTH_HELPER_FAILED);
  }
  if (child == 0) {
    setpgid(0, 0);
    if (tty) {
      signal(SIGTTOU, SIG_IGN);
      tcsetpgrp(0, getpid());
      signal(SIGTTOU, SIG_DFL);
    }
    sigprocmask(SIG_SETMASK, &old, NULL);
    return;
  }
  setpgid(child, child);
  for (;;) {
    siginfo_t si;
    if (sigwaitinfo(&all, &si) < 0) continue;
    if (si.si_signo == SIGCHLD) {
      int status;
      pid_t w;
      while ((w = waitpid(-1, &status, WNOHANG)) > 0)
        if (w == child) _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
    } else if (si.si_signo != SIGTTIN && si.si_signo != SIGTTOU) {
      kill(child, si.si_signo);
    }
  }
}

/* PATH lookup the way execvp does it, with the container's PATH, done before the
 * container is started so that "not found" (127) and "not executable" (126) are reported
 * by create, as docker and runc report them. */
static int find_command(const char *cmd, char **envp, char *out, size_t outlen, struct berth_error **err) {
  if (strchr(cmd, '/') != NULL) {
    snprintf(out, outlen, "%s", cmd);
  } else {
    const char *path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    for (char **e = envp; *e != NULL; e++)
      if (strncmp(*e, "PATH=", 5) == 0) path = *e + 5;
    bool found = false, denied = false;
    while (!found) {
      const char *colon = strchr(path, ':');
      size_t dlen = colon ? (size_t)(colon - path) : strlen(path);
      snprintf(out, outlen, "%.*s%s%s", (int)dlen, dlen ? path : ".", "/", cmd);
      struct stat st;
      if (stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
        if (st.st_mode & 0111)
          found = true;
        else
          denied = true;
      }
      if (colon == NULL) break;
      path = colon + 1;
    }
    if (!found)
      return exec_fail(err, denied ? EACCES : ENOENT,
                       denied ? "exec: \"%s\": permission denied" : "exec: \"%s\": executable file not found in $PATH",
                       cmd);
    return 0;
  }
  struct stat st;
  if (stat(out, &st) < 0) return berth_fail(err, errno, "exec", "exec: \"%s\": stat %s", cmd, out);
  if (S_ISDIR(st.st_mode)) return exec_fail(err, EACCES, "exec: \"%s\": is a directory", cmd);
  if (!(st.st_mode & 0111)) return exec_fail(err, EACCES, "exec: \"%s\": permission denied", cmd);
  return 0;
}

static char **collect(const struct plan *plan, uint16_t tag) {
  size_t n = 0;
  for (size_t i = 0; i < plan->nrecords; i++)
    n += plan->records[i].tag == tag;
  char **v = calloc(n + 1, sizeof(char *));
  if (v == NULL) return NULL;
  n = 0;
  for (size_t i = 0; i < plan->nrecords; i++)
    if (plan->records[i].tag == tag) v[n++] = rec_str(&plan->records[i], 0);
  return v;
}

/* chdir into cwd resolved inside the root as create resolves every path (openat2
 * RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: no `..` above it, no /proc/self/fd/N), then the
 * check runc makes since CVE-2024-21626: the kernel sees the new cwd under the root. */
static int enter_cwd(const char *cwd, struct berth_error **err) {
  cleanup_close int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root < 0) return berth_fail(err, errno, "cwd", "open `/`");
  struct open_how how = {.flags = O_PATH | O_DIRECTORY | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  cleanup_close int dir = (int)syscall(SYS_openat2, root, cwd, &how, sizeof(how));
  if (dir < 0 && errno == ELOOP)
    return berth_fail(err, ELOOP, "cwd", "chdir `%s` (resolved in the container without following /proc magic links)",
                      cwd);
  if (dir < 0 || fchdir(dir) < 0) return berth_fail(err, errno, "cwd", "chdir `%s`", cwd);
  /* The raw syscall: a cwd outside the root reads "(unreachable)/...", which libc hides. */
  char buf[4096];
  long n = syscall(SYS_getcwd, buf, sizeof(buf));
  if (n < 0) return berth_fail(err, errno, "cwd", "getcwd after chdir `%s`", cwd);
  if (buf[0] != '/') return berth_fail(err, EPERM, "cwd", "chdir `%s`: the directory is outside the container", cwd);
  return 0;
}

/* The container's first process: never returns. Reports an error on reply_fd before it is
 * ready; after that, on its stderr (the container's log) with exit status 126 or 127. */
static void container_main(const struct plan *plan, int ready_fd, int reply_fd, int console_fd) {
  cleanup_error struct berth_error *err = NULL;
  char **argv = collect(plan, PLAN_ARG);
  char **envp = collect(plan, PLAN_ENV);
  char command[4096];
  int fifo = -1;
  if (argv == NULL || envp == NULL || argv[0] == NULL) {
    berth_fail(&err, EINVAL, "exec", "the plan has no command");
    goto fail;
  }
  /* Before any path of the container is resolved (for exec this process is already in its
   * mount namespace), every fd but the ones it passes on is closed: an fd of a host
   * directory, such as the cgroup2 leaf's, would let `/proc/self/fd/N/..` reach the host's
   * files from the working directory or the command (CVE-2024-21626; runc closes them so). */
  int keep[] = {ready_fd, reply_fd, console_fd, cgroupns_fd};
  if (close_fds_except(keep, sizeof(keep) / sizeof(keep[0]), &err) < 0) goto fail;
  if (setsid() < 0) {
    berth_fail(&err, errno, "tty", "setsid");
    goto fail;
  }
  const struct plan_record *ns = plan_find(plan, PLAN_NS_NEW);
  if (ns != NULL && (rec_u32(ns, 0) & CLONE_NEWCGROUP) && unshare(CLONE_NEWCGROUP) < 0) {
    berth_fail(&err, errno, "namespaces", "unshare the cgroup namespace");
    goto fail;
  }
  if (cgroupns_fd >= 0) {
    if (setns(cgroupns_fd, CLONE_NEWCGROUP) < 0) {
      berth_fail(&err, errno, "namespaces", "join the cgroup namespace");
      goto fail;
    }
    close(cgroupns_fd);
    cgroupns_fd = -1;
  }
  const struct plan_record *fiforec = plan_find(plan, PLAN_EXEC_FIFO);
  if (fiforec != NULL) {
    cleanup_free char *path = rec_str(fiforec, 0);
    fifo = open(path, O_PATH | O_CLOEXEC);
    if (fifo < 0) {
      berth_fail(&err, errno, "exec-fifo", "open `%s`", path);
      goto fail;
    }
  }
  const struct plan_record *cwdrec = plan_find(plan, PLAN_CWD);
  cleanup_free char *cwd = cwdrec ? rec_str(cwdrec, 0) : strdup("/");
  if (plan_find(plan, PLAN_ROOTFS) != NULL) {
    int rootfd = setup_rootfs(plan, &err);
    if (rootfd < 0) goto fail;
    /* docker creates a missing working directory (moby daemon/create.go). */
    int cwdfd = mkdir_in_root(rootfd, cwd, false, &err);
    if (cwdfd < 0) goto fail;
    close(cwdfd);
    if (pivot_into(rootfd, &err) < 0) goto fail;
    close(rootfd);
    if (set_sysctls(plan, &err) < 0 || finish_rootfs(plan, &err) < 0) goto fail;
  } else if (set_sysctls(plan, &err) < 0) {
    goto fail;
  }
  /* The pty comes from the container's own devpts, as runc's console socket does it, so
   * that the container sees it as /dev/pts/0 and /dev/console; the master goes back to
   * the monitor (or, for exec, the helper) over console_fd. */
  if (plan_find(plan, PLAN_TTY) != NULL && setup_console(console_fd, plan_find(plan, PLAN_ROOTFS) != NULL, &err) < 0)
    goto fail;
  const struct plan_record *r;
  if ((r = plan_find(plan, PLAN_HOSTNAME)) != NULL) {
    cleanup_free char *h = rec_str(r, 0);
    if (sethostname(h, strlen(h)) < 0) {
      berth_fail(&err, errno, "hostname", "sethostname `%s`", h);
      goto fail;
    }
  }
  if ((r = plan_find(plan, PLAN_DOMAINNAME)) != NULL) {
    cleanup_free char *d = rec_str(r, 0);
    if (setdomainname(d, strlen(d)) < 0) {
      berth_fail(&err, errno, "hostname", "setdomainname `%s`", d);
      goto fail;
    }
  }
  if ((r = plan_find(plan, PLAN_OOM_SCORE_ADJ)) != NULL) {
    char v[16];
    snprintf(v, sizeof(v), "%d", (int32_t)rec_u32(r, 0));
    if (write_proc("self/oom_score_adj", v, &err, "oom-score-adj") < 0) goto fail;
  }
  if (set_rlimits(plan, &err) < 0) goto fail;
  if (enter_cwd(cwd, &err) < 0) goto fail;
  if (find_command(argv[0], envp, command, sizeof(command), &err) < 0) goto fail;
  /* Only 0-2 reach the command: everything else is close-on-exec from here. */
  if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) < 0) {
    berth_fail(&err, errno, "exec", "close_range");
    goto fail;
  }
  if (write_all(ready_fd, "R", 1) < 0) {
    berth_fail(&err, errno, "exec", "tell the helper the container is ready");
    goto fail;
  }
  close(ready_fd);
  ready_fd = -1;
  if (reply_fd >= 0) close(reply_fd); /* from here on, errors go to the container's stderr */
  reply_fd = -1;
  if (fifo >= 0) {
    /* Blocks until `start` opens the fifo for reading (runtime.md "start"). */
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fifo);
    int w = open(path, O_WRONLY | O_CLOEXEC);
    if (w < 0 || write_all(w, "0", 1) < 0) {
      berth_fail(&err, errno, "exec-fifo", "wait on the exec fifo");
      goto fail;
    }
    close(w);
    close(fifo);
  }
  if (set_identity(plan, &err) < 0) goto fail;
  const struct plan_record *um = plan_find(plan, PLAN_UMASK);
  umask(um ? rec_u32(um, 0) : 022);
  if (plan_find(plan, PLAN_NO_NEW_PRIVS) != NULL && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
    berth_fail(&err, errno, "no-new-privileges", "PR_SET_NO_NEW_PRIVS");
    goto fail;
  }
  if (plan_find(plan, PLAN_INIT) != NULL) run_init(plan_find(plan, PLAN_TTY) != NULL);
  execve(command, argv, envp);
  berth_fail(&err, errno, "exec", "exec: \"%s\"", argv[0]);
fail:
  if (reply_fd >= 0) {
    report_error(reply_fd, err);
  } else {
    dprintf(2, "berth: %s\n", err ? err->message : "unknown error");
  }
  _exit(err && err->stage[0] == 'e' && strcmp(err->stage, "exec") == 0
            ? (err->errnum == ENOENT                             ? 127
               : err->errnum == EACCES || err->errnum == ENOEXEC ? 126
                                                                 : BERTH_HELPER_FAILED)
            : BERTH_HELPER_FAILED);
}

int main(int argc, char **argv) {
  (void)argc;
  cleanup_error struct berth_error *err = NULL;
  int reply_fd = env_fd(BERTH_ENV_REPLY_FD);
  int plan_fd = env_fd(BERTH_ENV_PLAN_FD);
  struct plan plan;
  cleanup_close int cgroup2_fd = -1;
  if (plan_fd < 0) {
    berth_fail(&err, EINVAL, "helper", "no plan: %s is not set (berth-helper is run by berth-monitor)",
               BERTH_ENV_PLAN_FD);
    goto fail;
  }
  if (reexec_sealed(argv, &err) < 0) goto fail;
  /* Not dumpable while it holds host resources: no ptrace, no /proc/PID/fd from inside. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) {
    berth_fail(&err, errno, "helper", "PR_SET_DUMPABLE");
    goto fail;
  }
  if (plan_read(plan_fd, &plan, &err) < 0) goto fail;
  close(plan_fd);
  if (join_cgroups(&plan, &cgroup2_fd, &err) < 0 || join_namespaces(&plan, &err) < 0) goto fail;
  const struct plan_record *ns = plan_find(&plan, PLAN_NS_NEW);
  /* The cgroup namespace is the container process's to make, once it is in its cgroups:
   * its root is the cgroup of whoever unshares it. */
  int unshare_flags = ns != NULL ? (int)rec_u32(ns, 0) & ~CLONE_NEWCGROUP : 0;
  if (unshare_flags != 0 && unshare(unshare_flags) < 0) {
    berth_fail(&err, errno, "namespaces", "unshare 0x%x", unshare_flags);
    goto fail;
  }
  if (plan_find(&plan, PLAN_HOLD) != NULL) {
    /* No process is cloned into the leaf: the helper joins it itself, so that removing the
     * container (which kills what is left in its cgroup) ends the hold too. */
    if ((cgroup2_fd >= 0 && join_cgroup2(cgroup2_fd, &err) < 0) || hold_rootfs(&plan, reply_fd, &err) < 0) goto fail;
    return 0;
  }
  if (ns != NULL && (rec_u32(ns, 0) & CLONE_NEWNET) && loopback_up(&err) < 0) goto fail;
  bool exec_wait = plan_find(&plan, PLAN_EXEC_WAIT) != NULL;
  /* Where the container's pty master is sent: the monitor's socket, or for exec our own. */
  int console[2] = {-1, env_fd(BERTH_ENV_CONSOLE_FD)};
  if (console[1] >= 0) {
    fcntl(console[1], F_SETFD, FD_CLOEXEC);
  } else if (plan_find(&plan, PLAN_CONSOLE_SOCKET) != NULL) {
    cleanup_free char *path = rec_str(plan_find(&plan, PLAN_CONSOLE_SOCKET), 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    if (path == NULL || strlen(path) >= sizeof(addr.sun_path)) {
      berth_fail(&err, ENAMETOOLONG, "tty", "console socket path");
      goto fail;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    console[1] = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (console[1] < 0 || connect(console[1], (struct sockaddr *)&addr, sizeof(addr)) < 0) {
      berth_fail(&err, errno, "tty", "connect to the console socket `%s`", path);
      goto fail;
    }
  } else if (exec_wait && plan_find(&plan, PLAN_TTY) != NULL) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, console) < 0) {
      berth_fail(&err, errno, "tty", "socketpair");
      goto fail;
    }
  }
  struct exec_pipes pipes;
  const struct plan_record *piperec = plan_find(&plan, PLAN_EXEC_PIPES);
  bool use_pipes = exec_wait && piperec != NULL && plan_find(&plan, PLAN_TTY) == NULL;
  if (use_pipes && exec_pipes_open(&pipes, (rec_u32(piperec, 0) & BERTH_EXEC_PIPE_STDIN) != 0, &err) < 0) goto fail;
  int ready[2];
  if (pipe2(ready, O_CLOEXEC) < 0) {
    berth_fail(&err, errno, "helper", "pipe");
    goto fail;
  }
  pid_t pid = fork_container(cgroup2_fd, &err);
  if (pid < 0) goto fail;
  if (pid == 0) {
    close(ready[0]);
    signal(SIGPIPE, SIG_DFL);
    if (console[0] >= 0) close(console[0]);
    if (use_pipes && exec_pipes_child(&pipes, &err) < 0) {
      report_error(reply_fd, err);
      _exit(BERTH_HELPER_FAILED);
    }
    container_main(&plan, ready[1], reply_fd, console[1]);
  }
  close(ready[1]);
  for (int i = 0; use_pipes && i < 3; i++)
    if (pipes.child[i] >= 0) close(pipes.child[i]);
  int tty_master = -1;
  if (exec_wait && console[0] >= 0) {
    close(console[1]);
    console[1] = -1;
  }
  char byte = 0;
  ssize_t n;
  do
    n = read(ready[0], &byte, 1);
  while (n < 0 && errno == EINTR);
  if (n != 1) {
    /* The container process reported its own error; collect it. */
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : BERTH_HELPER_FAILED;
  }
  if (reply_fd >= 0) dprintf(reply_fd, "{\"type\":\"created\",\"pid\":%d}\n", pid);
  if (exec_wait) {
    if (console[0] >= 0 && (tty_master = recv_fd(console[0])) < 0) {
      berth_fail(&err, errno, "tty", "receive the pty from the container");
      report_error(reply_fd, err);
      kill(pid, SIGKILL);
      return BERTH_HELPER_FAILED;
    }
    if (reply_fd >= 0) close(reply_fd);
    return exec_session(pid, tty_master, use_pipes ? &pipes : NULL);
  }
  return 0;
fail:
  report_error(reply_fd, err);
  return BERTH_HELPER_FAILED;
}
