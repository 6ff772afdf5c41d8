/* Device rules on cgroup v2, which has no devices controller: a BPF_PROG_TYPE_CGROUP_DEVICE
 * program, built from the plan's rules, loaded with bpf(2) and attached to the container's
 * cgroup2 leaf (BPF_CGROUP_DEVICE). The kernel runs it on every mknod(2) and open(2) of a
 * device node by a process in the leaf or below, and refuses the access (EPERM) when it
 * returns 0 (Documentation/bpf/prog_cgroup_device.rst, the same hook as v1's devices
 * controller in security/device_cgroup.c). runc and crun do the same. */
#ifndef BERTH_BPF_H
#define BERTH_BPF_H

#include "util.h"
#include <linux/bpf.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One rule of the program (proto.h PLAN_DEVICE_RULE). */
struct device_rule {
  bool allow;
  uint32_t type;   /* BPF_DEVCG_DEV_BLOCK or BPF_DEVCG_DEV_CHAR; 0 for both */
  int32_t major;   /* -1 for any */
  int32_t minor;   /* -1 for any */
  uint32_t access; /* BPF_DEVCG_ACC_MKNOD | _READ | _WRITE, not 0 */
};

/* Builds the program of `rules`: the last rule that matches a request decides it, and a
 * request no rule matches is denied. An allow rule matches a request whose accesses it all
 * grants; a deny rule one that asks for any access it denies. *out is malloc'd. */
int device_program_build(const struct device_rule *rules, size_t n, struct bpf_insn **out, size_t *count,
                         struct berth_error **err);

/* Loads the program (BPF_PROG_LOAD); returns its fd. On failure the message ends with the
 * verifier's log, and *unavailable says whether the host cannot load device programs at
 * all (no bpf(2), not permitted, a kernel without the program type) rather than refused
 * this one. */
int device_program_load(const struct bpf_insn *insns, size_t count, bool *unavailable, struct berth_error **err);

/* Attaches the program to the cgroup2 directory `cgroup_fd` (BPF_F_ALLOW_MULTI), then
 * detaches the device programs that were attached there before (a restarted container's
 * leaf keeps its last run's): there is no moment without one. *unavailable as for load. */
int device_program_attach(int cgroup_fd, int prog_fd, bool *unavailable, struct berth_error **err);

/* The ids of the device programs attached to `cgroup_fd` (BPF_PROG_QUERY), at most max;
 * returns how many there are. */
int device_program_query(int cgroup_fd, uint32_t *ids, uint32_t max, struct berth_error **err);

#endif
