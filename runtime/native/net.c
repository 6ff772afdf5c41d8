/* berth-net: a container's network plumbing through rtnetlink, on berth's hot path (one
 * process per `run`, no `ip` commands). TypeScript (network/manager.ts) decides names,
 * addresses and routes; this program executes and names what failed.
 *
 * Usage:
 *   berth-net bridge --name BR --addr CIDR [--mtu N]        make BR (if missing), address, up
 *   berth-net bridge-del --name BR                           delete BR (missing is fine)
 *   berth-net attach --netns PATH [--create] --bridge BR --host-if VETH --if IFNAME
 *                    --mac MAC --addr CIDR [--gateway IP [--route-mtu M]] [--mtu N]
 *       with --create a new network namespace is bind-mounted at PATH (as `ip netns add`
 *       does: PATH's directory a shared mount point); then a veth pair: VETH on BR in the
 *       host's namespace (in hairpin mode), IFNAME with MAC and CIDR in PATH's, up, with lo,
 *       and the default route via IP (with MTU M: the links' N is for traffic on the host,
 *       M for what leaves it). Undone when a step fails.
 *   berth-net detach --netns PATH [--host-if VETH] [--remove-netns]
 *       delete VETH (and so its peer); unmount and remove PATH. Missing things are fine.
 * Exit 0, 1 with one line "berth-net: WHAT: ERROR" on stderr, 2 for bad usage. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

struct opts {
  const char *name, *addr, *netns, *bridge, *host_if, *ifname, *mac, *gateway;
  int mtu, route_mtu;
  bool create, remove_netns;
};

static void usage(const char *why) {
  fprintf(stderr, "berth-net: %s (usage: see runtime/native/net.c)\n", why);
  exit(2);
}

/* Prints "berth-net: WHAT: strerror(err)" and returns -1. */
static int fail(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail(int err, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("berth-net: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  if (err != 0) fprintf(stderr, ": %s", strerror(err));
  fputc('\n', stderr);
  return -1;
}

/* A netlink request under construction: header, fixed part, attributes. */
struct req {
  union {
    struct nlmsghdr nh;
    char buf[4096];
  };
};

static struct nlmsghdr *req_init(struct req *r, int type, int flags, const void *fixed, size_t fixed_len) {
  memset(r, 0, sizeof(*r));
  r->nh.nlmsg_len = NLMSG_LENGTH(fixed_len);
  r->nh.nlmsg_type = (unsigned short)type;
  r->nh.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  memcpy(NLMSG_DATA(&r->nh), fixed, fixed_len);
  return &r->nh;
}

static struct rtattr *attr(struct req *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->nh.nlmsg_len));
  size_t total = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(RTA_LENGTH(len));
  if (total > sizeof(r->buf)) usage("netlink request too large");
  a->rta_type = (unsigned short)type;
  a->rta_len = (unsigned short)RTA_LENGTH(len);
  if (len > 0) memcpy(RTA_DATA(a), data, len);
  r->nh.nlmsg_len = (unsigned)total;
  return a;
}

static void attr_str(struct req *r, int type, const char *s) {
  attr(r, type, s, strlen(s) + 1);
}

static void attr_u32(struct req *r, int type, unsigned v) {
  attr(r, type, &v, sizeof(v));
}

/* Ends a nested attribute begun with attr(r, type, NULL, 0). */
static void nest_end(struct req *r, struct rtattr *a) {
  a->rta_len = (unsigned short)(r->buf + r->nh.nlmsg_len - (char *)a);
}

/* Sends the request and reads its ack: 0, or -errno. */
static int talk(int fd, struct req *r) {
  static unsigned seq;
  r->nh.nlmsg_seq = ++seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  if (sendto(fd, r->buf, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0) return -errno;
  char buf[8192];
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof(buf), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) return ((struct nlmsgerr *)NLMSG_DATA(h))->error;
    }
  }
}

static int nl_open(void) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) fail(errno, "netlink socket");
  return fd;
}

/* Sets a link up (and its MTU when mtu > 0). */
static int link_up(int fd, int index, int mtu) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  if (mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)mtu);
  return talk(fd, &r);
}

static int parse_cidr(const char *text, struct in_addr *addr, int *prefix) {
  char ip[32];
  const char *slash = strchr(text, '/');
  if (slash == NULL || (size_t)(slash - text) >= sizeof(ip)) return -1;
  memcpy(ip, text, (size_t)(slash - text));
  ip[slash - text] = '\0';
  char *end;
  long p = strtol(slash + 1, &end, 10);
  if (*end != '\0' || p < 0 || p > 32 || inet_pton(AF_INET, ip, addr) != 1) return -1;
  *prefix = (int)p;
  return 0;
}

/* Adds CIDR to the link; an address it already has is fine. */
static int add_address(int fd, int index, const char *cidr, const char *ifname) {
  struct in_addr a;
  int prefix;
  if (parse_cidr(cidr, &a, &prefix) < 0) usage("bad --addr");
  struct req r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)index};
  req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
  attr(&r, IFA_LOCAL, &a, sizeof(a));
  attr(&r, IFA_ADDRESS, &a, sizeof(a));
  if (prefix < 31) {
    struct in_addr bcast = {.s_addr = a.s_addr | htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1)};
    attr(&r, IFA_BROADCAST, &bcast, sizeof(bcast));
  }
  int rc = talk(fd, &r);
  if (rc < 0 && rc != -EEXIST) return fail(-rc, "add address %s to %s", cidr, ifname);
  return 0;
}

static int delete_link(int fd, const char *name) {
  unsigned index = if_nametoindex(name);
  if (index == 0) return 0;
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = (int)index};
  req_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
  int rc = talk(fd, &r);
  if (rc < 0 && rc != -ENODEV) return fail(-rc, "delete %s", name);
  return 0;
}

static int cmd_bridge(struct opts *o) {
  int fd = nl_open();
  if (fd < 0) return -1;
  unsigned index = if_nametoindex(o->name);
  if (index == 0) {
    struct req r;
    struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
    req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
    attr_str(&r, IFLA_IFNAME, o->name);
    if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
    struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
    attr_str(&r, IFLA_INFO_KIND, "bridge");
    nest_end(&r, info);
    int rc = talk(fd, &r);
    if (rc < 0 && rc != -EEXIST) return fail(-rc, "create bridge %s", o->name);
    index = if_nametoindex(o->name);
    if (index == 0) return fail(errno, "bridge %s", o->name);
  }
  if (add_address(fd, (int)index, o->addr, o->name) < 0) return -1;
  int rc = link_up(fd, (int)index, o->mtu);
  if (rc < 0) return fail(-rc, "set %s up", o->name);
  return 0;
}

static int cmd_bridge_del(struct opts *o) {
  int fd = nl_open();
  return fd < 0 ? -1 : delete_link(fd, o->name);
}

/* As iproute2's netns_add: the directory of namespace files is a shared mount point, so that
 * unmounting one there reaches mount namespaces that copied it. */
static int shared_dir(const char *dir) {
  char partial[4096];
  snprintf(partial, sizeof(partial), "%s", dir);
  for (char *p = partial + 1; *p != '\0'; p++) {
    if (*p != '/') continue;
    *p = '\0';
    if (mkdir(partial, 0755) < 0 && errno != EEXIST) return fail(errno, "mkdir %s", partial);
    *p = '/';
  }
  if (mkdir(dir, 0755) < 0 && errno != EEXIST) return fail(errno, "mkdir %s", dir);
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
  if (errno != EINVAL) return fail(errno, "make %s shared", dir);
  if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0) return fail(errno, "bind %s on itself", dir);
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0) return fail(errno, "make %s shared", dir);
  return 0;
}

static void remove_netns(const char *path) {
  umount2(path, MNT_DETACH);
  unlink(path);
}

/* A new network namespace bind-mounted at path, lo up in it; this process stays in its own. */
static int create_netns(const char *path) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", path);
  char *slash = strrchr(dir, '/');
  if (slash == NULL || slash == dir) usage("--netns must be an absolute path below a directory");
  *slash = '\0';
  if (shared_dir(dir) < 0) return -1;
  int file = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (file < 0) return fail(errno, errno == EEXIST ? "netns %s exists" : "create %s", path);
  close(file);
  int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    unlink(path);
    return fail(errno, "open /proc/self/ns/net");
  }
  if (unshare(CLONE_NEWNET) < 0) {
    int err = errno;
    unlink(path);
    close(home);
    return fail(err, "unshare(CLONE_NEWNET)");
  }
  int rc = 0;
  if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
    rc = fail(errno, "bind the new network namespace at %s", path);
  if (rc == 0) {
    int fd = nl_open();
    int up = fd < 0 ? -1 : link_up(fd, (int)if_nametoindex("lo"), 0);
    if (up < 0) rc = fail(fd < 0 ? errno : -up, "set lo up in %s", path);
    if (fd >= 0) close(fd);
  }
  if (setns(home, CLONE_NEWNET) < 0) rc = fail(errno, "return to the host's network namespace");
  close(home);
  if (rc < 0) remove_netns(path);
  return rc;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  unsigned v[6];
  char extra;
  if (sscanf(text, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) return -1;
  for (int i = 0; i < 6; i++)
    mac[i] = (unsigned char)v[i];
  return 0;
}

/* Inside the container's namespace: IFNAME's address, IFNAME and lo up, the default route. */
static int configure_inside(struct opts *o) {
  int fd = nl_open();
  if (fd < 0) return -1;
  int index = (int)if_nametoindex(o->ifname);
  if (index == 0) return fail(errno, "find %s in %s", o->ifname, o->netns);
  if (add_address(fd, index, o->addr, o->ifname) < 0) return -1;
  int rc = link_up(fd, index, 0);
  if (rc < 0) return fail(-rc, "set %s up", o->ifname);
  rc = link_up(fd, (int)if_nametoindex("lo"), 0);
  if (rc < 0) return fail(-rc, "set lo up");
  if (o->gateway != NULL) {
    struct in_addr gw;
    if (inet_pton(AF_INET, o->gateway, &gw) != 1) usage("bad --gateway");
    struct req r;
    struct rtmsg rt = {.rtm_family = AF_INET,
                       .rtm_table = RT_TABLE_MAIN,
                       .rtm_protocol = RTPROT_BOOT,
                       .rtm_scope = RT_SCOPE_UNIVERSE,
                       .rtm_type = RTN_UNICAST};
    req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
    attr(&r, RTA_GATEWAY, &gw, sizeof(gw));
    attr_u32(&r, RTA_OIF, (unsigned)index);
    if (o->route_mtu > 0) {
      struct rtattr *metrics = attr(&r, RTA_METRICS, NULL, 0);
      attr_u32(&r, RTAX_MTU, (unsigned)o->route_mtu);
      nest_end(&r, metrics);
    }
    rc = talk(fd, &r);
    if (rc < 0 && rc != -EEXIST) return fail(-rc, "add the default route via %s", o->gateway);
  }
  close(fd);
  return 0;
}

static int cmd_attach(struct opts *o) {
  unsigned char mac[6];
  if (parse_mac(o->mac, mac) < 0) usage("bad --mac");
  struct in_addr a;
  int prefix;
  if (parse_cidr(o->addr, &a, &prefix) < 0) usage("bad --addr");
  unsigned bridge = if_nametoindex(o->bridge);
  if (bridge == 0) return fail(0, "bridge %s does not exist", o->bridge);
  if (o->create && create_netns(o->netns) < 0) return -1;
  int fd = -1, ns = -1, home = -1, rc = -1;
  bool made = false;
  if ((ns = open(o->netns, O_RDONLY | O_CLOEXEC)) < 0) {
    fail(errno, "open netns %s", o->netns);
    goto out;
  }
  if ((fd = nl_open()) < 0) goto out;
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  attr_str(&r, IFLA_IFNAME, o->host_if);
  if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
  attr_u32(&r, IFLA_MASTER, bridge);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  attr_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = attr(&r, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = attr(&r, VETH_INFO_PEER, NULL, 0);
  /* The peer's own ifinfomsg comes first, then its attributes. */
  struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
  memcpy(r.buf + r.nh.nlmsg_len, &peer_ifi, sizeof(peer_ifi));
  r.nh.nlmsg_len += NLMSG_ALIGN(sizeof(peer_ifi));
  attr_str(&r, IFLA_IFNAME, o->ifname);
  attr_u32(&r, IFLA_NET_NS_FD, (unsigned)ns);
  attr(&r, IFLA_ADDRESS, mac, sizeof(mac));
  if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
  nest_end(&r, peer);
  nest_end(&r, data);
  nest_end(&r, info);
  struct req again = r;
  int err = talk(fd, &r);
  if (err == -EEXIST) {
    /* The same container's pair from its last run: the kernel deletes a pair when its
     * namespace goes, but in the background, and a quick restart can come first. */
    if (delete_link(fd, o->host_if) < 0) goto out;
    err = talk(fd, &again);
  }
  if (err < 0) {
    fail(-err, "create veth %s on bridge %s", o->host_if, o->bridge);
    goto out;
  }
  made = true;
  /* Hairpin: with br_netfilter a container's connection to its own published port is
   * DNATed on the bridge and has to leave by the port it came in (docker sets the same
   * when it runs without its userland proxy). */
  char sys[128];
  snprintf(sys, sizeof(sys), "/sys/class/net/%s/brport/hairpin_mode", o->host_if);
  int hp = open(sys, O_WRONLY | O_CLOEXEC);
  if (hp < 0 || write(hp, "1", 1) != 1) {
    fail(errno, "set hairpin mode on %s", o->host_if);
    if (hp >= 0) close(hp);
    goto out;
  }
  close(hp);
  err = link_up(fd, (int)if_nametoindex(o->host_if), 0);
  if (err < 0) {
    fail(-err, "set %s up", o->host_if);
    goto out;
  }
  if ((home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) < 0 || setns(ns, CLONE_NEWNET) < 0) {
    fail(errno, "enter netns %s", o->netns);
    goto out;
  }
  rc = configure_inside(o);
  if (setns(home, CLONE_NEWNET) < 0) rc = fail(errno, "return to the host's network namespace");
out:
  if (rc < 0) {
    if (made && fd >= 0) delete_link(fd, o->host_if);
    if (o->create) remove_netns(o->netns);
  }
  if (fd >= 0) close(fd);
  if (ns >= 0) close(ns);
  if (home >= 0) close(home);
  return rc;
}

static int cmd_detach(struct opts *o) {
  if (o->host_if != NULL) {
    int fd = nl_open();
    if (fd < 0 || delete_link(fd, o->host_if) < 0) return -1;
    close(fd);
  }
  if (o->remove_netns) {
    if (umount2(o->netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
      return fail(errno, "unmount %s", o->netns);
    if (unlink(o->netns) < 0 && errno != ENOENT) return fail(errno, "remove %s", o->netns);
  }
  return 0;
}

static bool ifname_ok(const char *s) {
  return s != NULL && s[0] != '\0' && strlen(s) < IFNAMSIZ && strchr(s, '/') == NULL;
}

int main(int argc, char **argv) {
  if (argc < 2) usage("no command");
  const char *cmd = argv[1];
  if (strcmp(cmd, "version") == 0) {
    puts("1");
    return 0;
  }
  struct opts o = {0};
  for (int i = 2; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    const char **slot = NULL;
    if (strcmp(a, "--create") == 0) {
      o.create = true;
      continue;
    }
    if (strcmp(a, "--remove-netns") == 0) {
      o.remove_netns = true;
      continue;
    }
    if (strcmp(a, "--name") == 0)
      slot = &o.name;
    else if (strcmp(a, "--addr") == 0)
      slot = &o.addr;
    else if (strcmp(a, "--netns") == 0)
      slot = &o.netns;
    else if (strcmp(a, "--bridge") == 0)
      slot = &o.bridge;
    else if (strcmp(a, "--host-if") == 0)
      slot = &o.host_if;
    else if (strcmp(a, "--if") == 0)
      slot = &o.ifname;
    else if (strcmp(a, "--mac") == 0)
      slot = &o.mac;
    else if (strcmp(a, "--gateway") == 0)
      slot = &o.gateway;
    else if ((strcmp(a, "--mtu") == 0 || strcmp(a, "--route-mtu") == 0) && v != NULL) {
      int n = atoi(v);
      if (n < 68 || n > 65535) usage("bad --mtu or --route-mtu");
      *(strcmp(a, "--mtu") == 0 ? &o.mtu : &o.route_mtu) = n;
      i++;
      continue;
    } else
      usage("unknown option");
    if (v == NULL) usage("option without a value");
    *slot = v;
    i++;
  }
  int rc;
  if (strcmp(cmd, "bridge") == 0) {
    if (!ifname_ok(o.name) || o.addr == NULL) usage("bridge needs --name and --addr");
    rc = cmd_bridge(&o);
  } else if (strcmp(cmd, "bridge-del") == 0) {
    if (!ifname_ok(o.name)) usage("bridge-del needs --name");
    rc = cmd_bridge_del(&o);
  } else if (strcmp(cmd, "attach") == 0) {
    if (o.netns == NULL || o.netns[0] != '/' || !ifname_ok(o.bridge) || !ifname_ok(o.host_if) || !ifname_ok(o.ifname) ||
        o.mac == NULL || o.addr == NULL)
      usage("attach needs --netns PATH --bridge --host-if --if --mac --addr");
    rc = cmd_attach(&o);
  } else if (strcmp(cmd, "detach") == 0) {
    if (o.netns == NULL || (o.host_if != NULL && !ifname_ok(o.host_if))) usage("detach needs --netns");
    rc = cmd_detach(&o);
  } else {
    usage("unknown command");
  }
  return rc < 0 ? 1 : 0;
}
