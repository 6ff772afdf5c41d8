/* See bpf.h. No libbpf: the program is a few instructions per rule, and four bpf(2)
 * commands load, attach, query and detach it. */
#define _GNU_SOURCE
#include "bpf.h"

#include <errno.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#define ACCESS_ALL (BPF_DEVCG_ACC_MKNOD | BPF_DEVCG_ACC_READ | BPF_DEVCG_ACC_WRITE)

/* The registers the prologue fills from struct bpf_cgroup_dev_ctx (linux/bpf.h). */
enum { R_CTX = BPF_REG_1, R_TYPE = BPF_REG_2, R_ACCESS = BPF_REG_3, R_MAJOR = BPF_REG_4, R_MINOR = BPF_REG_5 };

static struct bpf_insn insn(uint8_t code, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
  return (struct bpf_insn){.code = code, .dst_reg = dst, .src_reg = src, .off = off, .imm = imm};
}

static long sys_bpf(int cmd, union bpf_attr *attr) {
  return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static int check_rule(const struct device_rule *r, size_t i, struct berth_error **err) {
  bool type_ok = r->type == 0 || r->type == BPF_DEVCG_DEV_BLOCK || r->type == BPF_DEVCG_DEV_CHAR;
  if (!type_ok || r->major < -1 || r->minor < -1 || r->access == 0 || (r->access & ~(uint32_t)ACCESS_ALL) != 0)
    return berth_fail(err, EINVAL, "devices", "device rule %zu: type %u, major %d, minor %d, access 0x%x", i, r->type,
                      r->major, r->minor, r->access);
  return 0;
}

/* One rule's block at p: tests that jump past it when the request does not match, then
 * "return allow". Returns its length; *total says that it has no test (the rule matches
 * every request). */
static size_t emit_rule(const struct device_rule *r, struct bpf_insn *p, bool *total) {
  struct bpf_insn *start = p;
  bool any_access = r->access == ACCESS_ALL; /* a request always asks for some access */
  size_t tests = (r->type != 0) + (r->major >= 0) + (r->minor >= 0) + (any_access ? 0 : r->allow ? 1 : 2);
  struct bpf_insn *end = start + tests + 2;
#define TO_END(at) ((int16_t)(end - (at)-1))
  if (r->type != 0) {
    *p = insn(BPF_JMP | BPF_JNE | BPF_K, R_TYPE, 0, TO_END(p), (int32_t)r->type);
    p++;
  }
  if (r->major >= 0) {
    *p = insn(BPF_JMP | BPF_JNE | BPF_K, R_MAJOR, 0, TO_END(p), r->major);
    p++;
  }
  if (r->minor >= 0) {
    *p = insn(BPF_JMP | BPF_JNE | BPF_K, R_MINOR, 0, TO_END(p), r->minor);
    p++;
  }
  if (!any_access && r->allow) {
    /* Not a match when the request asks for an access the rule does not grant. */
    *p = insn(BPF_JMP | BPF_JSET | BPF_K, R_ACCESS, 0, TO_END(p), (int32_t)(ACCESS_ALL & ~r->access));
    p++;
  } else if (!any_access) {
    /* A match when the request asks for any access the rule denies: else skip the block. */
    *p = insn(BPF_JMP | BPF_JSET | BPF_K, R_ACCESS, 0, 1, (int32_t)r->access);
    p++;
    *p = insn(BPF_JMP | BPF_JA, 0, 0, TO_END(p), 0);
    p++;
  }
#undef TO_END
  *p++ = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, r->allow ? 1 : 0);
  *p++ = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  *total = tests == 0;
  return (size_t)(p - start);
}

int device_program_build(const struct device_rule *rules, size_t n, struct bpf_insn **out, size_t *count,
                         struct berth_error **err) {
  for (size_t i = 0; i < n; i++)
    if (check_rule(&rules[i], i, err) < 0) return -1;
  /* At most 7 instructions a rule, 6 of prologue and 2 of default. */
  struct bpf_insn *prog = calloc(7 * n + 8, sizeof(*prog));
  if (prog == NULL) return berth_fail(err, ENOMEM, "devices", "allocate the device program");
  struct bpf_insn *p = prog;
  /* access_type is (BPF_DEVCG_ACC_* << 16) | BPF_DEVCG_DEV_*, then major, then minor. */
  *p++ = insn(BPF_LDX | BPF_W | BPF_MEM, R_TYPE, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, access_type), 0);
  *p++ = insn(BPF_ALU64 | BPF_MOV | BPF_X, R_ACCESS, R_TYPE, 0, 0);
  *p++ = insn(BPF_ALU | BPF_RSH | BPF_K, R_ACCESS, 0, 0, 16);
  *p++ = insn(BPF_ALU | BPF_AND | BPF_K, R_TYPE, 0, 0, 0xffff);
  *p++ = insn(BPF_LDX | BPF_W | BPF_MEM, R_MAJOR, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, major), 0);
  *p++ = insn(BPF_LDX | BPF_W | BPF_MEM, R_MINOR, R_CTX, offsetof(struct bpf_cgroup_dev_ctx, minor), 0);
  /* The last rule first: the first block that matches returns. After a rule that matches
   * everything nothing is reachable, and the verifier refuses unreachable instructions. */
  bool total = false;
  for (size_t i = n; i > 0 && !total; i--)
    p += emit_rule(&rules[i - 1], p, &total);
  if (!total) {
    *p++ = insn(BPF_ALU64 | BPF_MOV | BPF_K, BPF_REG_0, 0, 0, 0);
    *p++ = insn(BPF_JMP | BPF_EXIT, 0, 0, 0, 0);
  }
  *out = prog;
  *count = (size_t)(p - prog);
  return 0;
}

/* Failures that say the host cannot run device programs at all, not that this one is wrong. */
static bool host_refuses(int errnum) {
  return errnum == EPERM || errnum == ENOSYS || errnum == EOPNOTSUPP;
}

/* The last `max` bytes of the verifier's log on one line: its verdict comes last. */
static const char *log_tail(char *log, size_t max) {
  size_t len = strlen(log);
  while (len > 0 && (log[len - 1] == '\n' || log[len - 1] == ' '))
    log[--len] = '\0';
  for (char *c = log; *c; c++)
    if (*c == '\n') *c = '|';
  return len > max ? log + len - max : log;
}

static int load(const struct bpf_insn *insns, size_t count, char *log, size_t log_size) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
  attr.insns = (uint64_t)(uintptr_t)insns;
  attr.insn_cnt = (uint32_t)count;
  attr.license = (uint64_t)(uintptr_t) "Apache-2.0";
  if (log != NULL) {
    log[0] = '\0';
    attr.log_level = 1;
    attr.log_buf = (uint64_t)(uintptr_t)log;
    attr.log_size = (uint32_t)log_size;
  }
  return (int)sys_bpf(BPF_PROG_LOAD, &attr);
}

int device_program_load(const struct bpf_insn *insns, size_t count, bool *unavailable, struct berth_error **err) {
  *unavailable = false;
  int fd = load(insns, count, NULL, 0);
  if (fd < 0 && errno == EPERM) {
    /* Before Linux 5.11 programs were charged to RLIMIT_MEMLOCK: raise it for the load
     * only, so that the container does not inherit the raised limit. */
    struct rlimit old, all = {RLIM_INFINITY, RLIM_INFINITY};
    if (getrlimit(RLIMIT_MEMLOCK, &old) == 0 && setrlimit(RLIMIT_MEMLOCK, &all) == 0) {
      fd = load(insns, count, NULL, 0);
      int saved = errno;
      setrlimit(RLIMIT_MEMLOCK, &old);
      errno = saved;
    }
  }
  if (fd >= 0) return fd;
  /* Again with the verifier's log, which says why. */
  size_t log_size = 64 * 1024;
  cleanup_free char *log = malloc(log_size);
  if (log == NULL) return berth_fail(err, ENOMEM, "devices", "allocate the verifier log");
  fd = load(insns, count, log, log_size);
  if (fd >= 0) return fd;
  int errnum = errno;
  /* EINVAL with nothing from the verifier: the kernel knows no such program type. */
  *unavailable = host_refuses(errnum) || (errnum == EINVAL && log[0] == '\0');
  if (log[0] == '\0') return berth_fail(err, errnum, "devices", "bpf BPF_PROG_LOAD of the device program");
  berth_fail(err, 0, "devices", "bpf BPF_PROG_LOAD of the device program: %s; the verifier says: %s", strerror(errnum),
             log_tail(log, 300));
  if (err != NULL && *err != NULL) (*err)->errnum = errnum;
  return -1;
}

int device_program_query(int cgroup_fd, uint32_t *ids, uint32_t max, struct berth_error **err) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.query.target_fd = (uint32_t)cgroup_fd;
  attr.query.attach_type = BPF_CGROUP_DEVICE;
  attr.query.prog_ids = (uint64_t)(uintptr_t)ids;
  attr.query.prog_cnt = max;
  /* ENOSPC: more than max; the first max ids are filled and prog_cnt is the count. */
  if (sys_bpf(BPF_PROG_QUERY, &attr) < 0 && errno != ENOSPC)
    return berth_fail(err, errno, "devices", "bpf BPF_PROG_QUERY of the cgroup's device programs");
  return (int)attr.query.prog_cnt;
}

/* Detaches program `id` from the cgroup; one already gone is fine. */
static int detach(int cgroup_fd, uint32_t id, struct berth_error **err) {
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.prog_id = id;
  cleanup_close int fd = (int)sys_bpf(BPF_PROG_GET_FD_BY_ID, &attr);
  if (fd < 0) return errno == ENOENT ? 0 : berth_fail(err, errno, "devices", "bpf BPF_PROG_GET_FD_BY_ID %u", id);
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cgroup_fd;
  attr.attach_bpf_fd = (uint32_t)fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  if (sys_bpf(BPF_PROG_DETACH, &attr) < 0 && errno != ENOENT)
    return berth_fail(err, errno, "devices", "bpf BPF_PROG_DETACH of the old device program %u", id);
  return 0;
}

int device_program_attach(int cgroup_fd, int prog_fd, bool *unavailable, struct berth_error **err) {
  *unavailable = false;
  uint32_t few[64];
  cleanup_free uint32_t *many = NULL;
  uint32_t *old = few;
  int n = device_program_query(cgroup_fd, few, 64, err);
  if (n > 64) {
    many = calloc((size_t)n, sizeof(*many));
    if (many == NULL) return berth_fail(err, ENOMEM, "devices", "allocate %d program ids", n);
    old = many;
    n = device_program_query(cgroup_fd, many, (uint32_t)n, err);
  }
  if (n < 0) {
    *unavailable = err != NULL && *err != NULL && host_refuses((*err)->errnum);
    return -1;
  }
  union bpf_attr attr;
  memset(&attr, 0, sizeof(attr));
  attr.target_fd = (uint32_t)cgroup_fd;
  attr.attach_bpf_fd = (uint32_t)prog_fd;
  attr.attach_type = BPF_CGROUP_DEVICE;
  attr.attach_flags = BPF_F_ALLOW_MULTI;
  if (sys_bpf(BPF_PROG_ATTACH, &attr) < 0) {
    *unavailable = host_refuses(errno);
    return berth_fail(err, errno, "devices", "bpf BPF_PROG_ATTACH of the device program");
  }
  for (int i = 0; i < n; i++)
    if (detach(cgroup_fd, old[i], err) < 0) return -1;
  return 0;
}
