/* berth-net: a container's network plumbing through rtnetlink, on berth's hot path (one
 * process per `run`, no `ip` commands). TypeScript (network/manager.ts, netlink.ts) decides
 * names, addresses and routes; this program executes them and names what failed.
 *
 * Usage:
 *   berth-net bridge --name BR --addr CIDR [--mtu N]
 *       make bridge BR if it is missing (up, MTU N), give it CIDR (one it has is fine), up;
 *       IPv6 off on BR (disable_ipv6=1, accept_ra=0; nothing where the host has no IPv6)
 *   berth-net bridge-del --name BR
 *       delete bridge BR (missing is fine; another kind of link is an error)
 *   berth-net attach --netns PATH [--create] --bridge BR --host-if VETH --if IFNAME
 *                    --mac MAC --addr CIDR [--gateway IP [--route-mtu M]] [--mtu N]
 *       with --create a new network namespace is bind-mounted at PATH, as `ip netns add`
 *       does (PATH's directory a shared mount point, PATH itself must not exist), with lo
 *       up. Then one RTM_NEWLINK makes the veth pair: VETH up on BR in this namespace (in
 *       hairpin mode), IFNAME up with MAC in PATH's, MTU N on both. In PATH's namespace
 *       IFNAME gets CIDR, lo is up, and the default route goes via IP (with MTU M: N is for
 *       traffic on the host, M for what leaves it). IPv6 off on VETH and on BR, as for
 *       bridge. A failure undoes what this run made.
 *   berth-net detach --netns PATH [--host-if VETH] [--remove-netns]
 *       delete veth VETH (and so its peer); unmount and remove PATH. Missing things are fine.
 *   berth-net version
 *       prints 1
 * Exit 0; 1 with one line "berth-net: WHAT: ERROR" on stderr; 2 for bad usage. */
#define _GNU_SOURCE
#include "util.h"

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
#include <string.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* ---- options ---- */

enum { BRIDGE = 1, BRIDGE_DEL = 2, ATTACH = 4, DETACH = 8 };

/* Every option, the commands that take it and those that need it. */
enum {
  O_NAME,
  O_ADDR,
  O_MTU,
  O_NETNS,
  O_CREATE,
  O_BRIDGE,
  O_HOST_IF,
  O_IF,
  O_MAC,
  O_GATEWAY,
  O_ROUTE_MTU,
  O_REMOVE,
  O_N
};
static const struct {
  const char *flag;
  unsigned takes, needs;
  bool value;
} options[O_N] = {
    [O_NAME] = {"--name", BRIDGE | BRIDGE_DEL, BRIDGE | BRIDGE_DEL, true},
    [O_ADDR] = {"--addr", BRIDGE | ATTACH, BRIDGE | ATTACH, true},
    [O_MTU] = {"--mtu", BRIDGE | ATTACH, 0, true},
    [O_NETNS] = {"--netns", ATTACH | DETACH, ATTACH | DETACH, true},
    [O_CREATE] = {"--create", ATTACH, 0, false},
    [O_BRIDGE] = {"--bridge", ATTACH, ATTACH, true},
    [O_HOST_IF] = {"--host-if", ATTACH | DETACH, ATTACH, true},
    [O_IF] = {"--if", ATTACH, ATTACH, true},
    [O_MAC] = {"--mac", ATTACH, ATTACH, true},
    [O_GATEWAY] = {"--gateway", ATTACH, 0, true},
    [O_ROUTE_MTU] = {"--route-mtu", ATTACH, 0, true},
    [O_REMOVE] = {"--remove-netns", DETACH, 0, false},
};

/* The options of a run, checked and parsed before anything changes on the host. */
struct opts {
  const char *name, *cidr, *netns, *bridge, *host_if, *ifname, *gateway_text;
  struct in_addr addr, gateway;
  int prefix, mtu, route_mtu;
  unsigned char mac[6];
  bool create, remove_netns, has_gateway;
};

static void usage(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void usage(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("berth-net: ", stderr);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputs(" (usage: see runtime/native/net.c)\n", stderr);
  exit(2);
}

static bool ifname_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= IFNAMSIZ || strcmp(s, ".") == 0 || strcmp(s, "..") == 0) return false;
  for (const char *p = s; *p != '\0'; p++)
    if (*p == '/' || *p == ':' || *p <= ' ' || *p == 0x7f) return false;
  return true;
}

static int parse_cidr(const char *text, struct in_addr *addr, int *prefix) {
  char ip[INET_ADDRSTRLEN];
  const char *slash = strchr(text, '/');
  if (slash == NULL || slash == text || (size_t)(slash - text) >= sizeof(ip)) return -1;
  memcpy(ip, text, (size_t)(slash - text));
  ip[slash - text] = '\0';
  const char *p = slash + 1;
  if (p[0] < '0' || p[0] > '9' || (p[1] != '\0' && (p[1] < '0' || p[1] > '9' || p[2] != '\0'))) return -1;
  *prefix = atoi(p);
  return *prefix <= 32 && inet_pton(AF_INET, ip, addr) == 1 ? 0 : -1;
}

static int hex_digit(char c) {
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

static int parse_mac(const char *text, unsigned char mac[6]) {
  if (strlen(text) != 17) return -1;
  for (int i = 0; i < 6; i++) {
    int hi = hex_digit(text[3 * i]), lo = hex_digit(text[3 * i + 1]);
    if (hi < 0 || lo < 0 || (i < 5 && text[3 * i + 2] != ':')) return -1;
    mac[i] = (unsigned char)(hi << 4 | lo);
  }
  return 0;
}

static int parse_mtu(const char *flag, const char *text) {
  char *end;
  errno = 0;
  long n = strtol(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || n < 68 || n > 65535)
    usage("bad %s \"%s\": expected a number from 68 to 65535", flag, text);
  return (int)n;
}

/* Checks argv against the command's options (exit 2 on a problem); returns the command. */
static unsigned parse_args(int argc, char **argv, struct opts *o) {
  static const char *const commands[] = {"bridge", "bridge-del", "attach", "detach"};
  unsigned cmd = 0;
  for (unsigned i = 0; i < 4; i++)
    if (strcmp(argv[1], commands[i]) == 0) cmd = 1u << i;
  if (cmd == 0) usage("unknown command \"%s\"", argv[1]);
  const char *v[O_N] = {0};
  for (int i = 2; i < argc; i++) {
    int k = 0;
    while (k < O_N && strcmp(argv[i], options[k].flag) != 0)
      k++;
    if (k == O_N) usage("unknown option \"%s\"", argv[i]);
    if ((options[k].takes & cmd) == 0) usage("%s does not take %s", argv[1], argv[i]);
    if (options[k].value && i + 1 == argc) usage("%s needs a value", argv[i]);
    v[k] = options[k].value ? argv[++i] : "";
  }
  for (int k = 0; k < O_N; k++)
    if ((options[k].needs & cmd) && v[k] == NULL) usage("%s needs %s", argv[1], options[k].flag);
  *o = (struct opts){.name = v[O_NAME],
                     .cidr = v[O_ADDR],
                     .netns = v[O_NETNS],
                     .bridge = v[O_BRIDGE],
                     .host_if = v[O_HOST_IF],
                     .ifname = v[O_IF],
                     .gateway_text = v[O_GATEWAY],
                     .create = v[O_CREATE] != NULL,
                     .remove_netns = v[O_REMOVE] != NULL};
  const int names[] = {O_NAME, O_BRIDGE, O_HOST_IF, O_IF};
  for (unsigned i = 0; i < 4; i++)
    if (v[names[i]] != NULL && !ifname_ok(v[names[i]]))
      usage("bad %s \"%s\": expected an interface name of 1 to 15 characters", options[names[i]].flag, v[names[i]]);
  if (o->cidr != NULL && parse_cidr(o->cidr, &o->addr, &o->prefix) < 0)
    usage("bad --addr \"%s\": expected an IPv4 address with a prefix length (10.77.0.2/16)", o->cidr);
  if (v[O_MAC] != NULL && parse_mac(v[O_MAC], o->mac) < 0)
    usage("bad --mac \"%s\": expected xx:xx:xx:xx:xx:xx", v[O_MAC]);
  o->has_gateway = o->gateway_text != NULL;
  if (o->has_gateway && inet_pton(AF_INET, o->gateway_text, &o->gateway) != 1)
    usage("bad --gateway \"%s\": expected an IPv4 address", o->gateway_text);
  if (v[O_MTU] != NULL) o->mtu = parse_mtu("--mtu", v[O_MTU]);
  if (v[O_ROUTE_MTU] != NULL) o->route_mtu = parse_mtu("--route-mtu", v[O_ROUTE_MTU]);
  if (v[O_ROUTE_MTU] != NULL && !o->has_gateway) usage("--route-mtu needs --gateway");
  if (o->netns != NULL && (o->netns[0] == '\0' || strlen(o->netns) >= 4000))
    usage("bad --netns \"%s\": expected a path", o->netns);
  if (o->netns != NULL && cmd == ATTACH && (o->netns[0] != '/' || strrchr(o->netns, '/') == o->netns))
    usage("bad --netns \"%s\": expected an absolute path below a directory (/run/berth/netns/ID)", o->netns);
  return cmd;
}

/* ---- rtnetlink ---- */

/* A request: header, fixed part, attributes. */
struct req {
  union {
    struct nlmsghdr nh;
    char buf[1024];
  };
};

static void req_init(struct req *r, int type, int flags, const void *fixed, size_t fixed_len) {
  memset(&r->nh, 0, sizeof(r->nh));
  r->nh.nlmsg_len = NLMSG_LENGTH(fixed_len);
  r->nh.nlmsg_type = (unsigned short)type;
  r->nh.nlmsg_flags = (unsigned short)(NLM_F_REQUEST | NLM_F_ACK | flags);
  memcpy(NLMSG_DATA(&r->nh), fixed, fixed_len);
}

/* Appends an attribute (a nest's start when data is NULL); the names and values given are
 * bounded, so the buffer cannot overflow. */
static struct rtattr *attr(struct req *r, int type, const void *data, size_t len) {
  struct rtattr *a = (struct rtattr *)(r->buf + NLMSG_ALIGN(r->nh.nlmsg_len));
  size_t total = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(RTA_LENGTH(len));
  if (total > sizeof(r->buf)) abort();
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

/* Ends a nest begun with attr(r, type, NULL, 0). */
static void nest_end(struct req *r, struct rtattr *a) {
  a->rta_len = (unsigned short)(r->buf + r->nh.nlmsg_len - (char *)a);
}

static int nl_open(struct berth_error **err) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return berth_fail(err, errno, "netlink", "open a NETLINK_ROUTE socket");
  return fd;
}

/* Sends the request and reads up to its ack: 0 or -errno (the kernel's nlmsgerr). An
 * answer before the ack (RTM_GETLINK's) is copied to reply (-EMSGSIZE if it does not fit). */
static int nl_talk(int fd, struct req *r, struct nlmsghdr *reply, size_t reply_cap) {
  static unsigned seq;
  r->nh.nlmsg_seq = ++seq;
  struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
  ssize_t n;
  do
    n = sendto(fd, r->buf, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel));
  while (n < 0 && errno == EINTR);
  if (n < 0) return -errno;
  int rc = 0;
  union {
    struct nlmsghdr nh;
    char buf[16384];
  } in;
  for (;;) {
    n = recv(fd, in.buf, sizeof(in.buf), MSG_TRUNC);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -errno;
    if ((size_t)n > sizeof(in.buf)) { /* an answer too long to read; its ack follows apart */
      rc = -EMSGSIZE;
      continue;
    }
    unsigned len = (unsigned)n;
    for (struct nlmsghdr *h = &in.nh; NLMSG_OK(h, len); h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_seq != seq) continue;
      if (h->nlmsg_type == NLMSG_ERROR) {
        int e = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        return e < 0 ? e : rc;
      }
      if (reply == NULL) continue;
      if (h->nlmsg_len > reply_cap)
        rc = -EMSGSIZE;
      else
        memcpy(reply, h, h->nlmsg_len);
    }
  }
}

/* A link found by name: its index and kind ("bridge", "veth"; "" for a plain device). */
struct link {
  int index;
  char kind[16];
};

/* Looks name up in fd's namespace: 0, -ENODEV when it has none, or -errno. */
static int link_get(int fd, const char *name, struct link *out) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_GETLINK, 0, &ifi, sizeof(ifi));
  attr_str(&r, IFLA_IFNAME, name);
  attr_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  union {
    struct nlmsghdr nh;
    char buf[16384];
  } reply;
  reply.nh.nlmsg_type = NLMSG_NOOP;
  int rc = nl_talk(fd, &r, &reply.nh, sizeof(reply.buf));
  if (rc < 0) return rc;
  if (reply.nh.nlmsg_type != RTM_NEWLINK) return -EBADMSG;
  struct ifinfomsg *got = NLMSG_DATA(&reply.nh);
  out->index = got->ifi_index;
  out->kind[0] = '\0';
  int len = (int)IFLA_PAYLOAD(&reply.nh);
  for (struct rtattr *a = IFLA_RTA(got); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type != IFLA_LINKINFO) continue;
    int inner = (int)RTA_PAYLOAD(a);
    for (struct rtattr *b = RTA_DATA(a); RTA_OK(b, inner); b = RTA_NEXT(b, inner))
      if (b->rta_type == IFLA_INFO_KIND)
        snprintf(out->kind, sizeof(out->kind), "%.*s", (int)strnlen(RTA_DATA(b), RTA_PAYLOAD(b)), (char *)RTA_DATA(b));
  }
  return 0;
}

/* Finds link name of the given kind: 0, 1 when it is missing, or -1 with *err. */
static int link_find(int fd, const char *name, const char *kind, struct link *out, struct berth_error **err) {
  int rc = link_get(fd, name, out);
  if (rc == -ENODEV) return 1;
  if (rc < 0) return berth_fail(err, -rc, "netlink", "look up %s", name);
  if (strcmp(out->kind, kind) != 0)
    return berth_fail(err, 0, "netlink", "%s is a %s, not a %s", name, out->kind[0] ? out->kind : "device", kind);
  return 0;
}

/* Sets a link up, by index or (index 0) by name, and its MTU when mtu > 0: 0 or -errno. */
static int link_up(int fd, int index, const char *name, int mtu) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  if (index == 0) attr_str(&r, IFLA_IFNAME, name);
  if (mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)mtu);
  return nl_talk(fd, &r, NULL, 0);
}

/* Deletes a link by index: 0 (also when it is gone already) or -errno. */
static int link_del(int fd, int index) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_index = index};
  req_init(&r, RTM_DELLINK, 0, &ifi, sizeof(ifi));
  int rc = nl_talk(fd, &r, NULL, 0);
  return rc == -ENODEV ? 0 : rc;
}

/* Deletes link name if it is one of kind: missing is fine, another kind is an error. */
static int link_del_kind(int fd, const char *name, const char *kind, struct berth_error **err) {
  struct link l;
  int rc = link_find(fd, name, kind, &l, err);
  if (rc != 0) return rc < 0 ? berth_error_prefix(err, "delete %s %s", kind, name) : 0;
  rc = link_del(fd, l.index);
  if (rc < 0) return berth_fail(err, -rc, "netlink", "delete %s %s", kind, name);
  return 0;
}

/* Adds addr/prefix to a link; one it has already is fine. Returns 0 or -errno. */
static int addr_add(int fd, int index, struct in_addr addr, int prefix) {
  struct req r;
  struct ifaddrmsg ifa = {.ifa_family = AF_INET, .ifa_prefixlen = (unsigned char)prefix, .ifa_index = (unsigned)index};
  req_init(&r, RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, &ifa, sizeof(ifa));
  attr(&r, IFA_LOCAL, &addr, sizeof(addr));
  attr(&r, IFA_ADDRESS, &addr, sizeof(addr));
  if (prefix < 31) {
    struct in_addr bcast = {.s_addr = addr.s_addr | htonl(prefix == 0 ? 0xffffffffu : (1u << (32 - prefix)) - 1)};
    attr(&r, IFA_BROADCAST, &bcast, sizeof(bcast));
  }
  int rc = nl_talk(fd, &r, NULL, 0);
  return rc == -EEXIST ? 0 : rc;
}

/* ---- IPv6 off on the host's side ---- */

/* Writes "value" to /proc/sys/net/ipv6/conf/IFNAME/KEY (of this process's network
 * namespace). 1: the host has no IPv6 (no /proc/sys/net/ipv6), nothing to do. */
static int ipv6_conf(const char *ifname, const char *key, const char *value) {
  char path[128];
  snprintf(path, sizeof(path), "/proc/sys/net/ipv6/conf/%s/%s", ifname, key);
  cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return errno == ENOENT && access("/proc/sys/net/ipv6", F_OK) < 0 ? 1 : -errno;
  size_t len = strlen(value);
  if (write(fd, value, len) != (ssize_t)len) return -errno;
  return 0;
}

/* CVE-2020-13401: a container with CAP_NET_RAW can send router advertisements on its
 * bridge, and a host interface with accept_ra=1 (the default while forwarding is off)
 * takes it as a router. berth's networks are IPv4 only, so IPv6 is off on the host's side
 * of them, bridge and veth, as docker does for networks without IPv6 (libnetwork bridge
 * driver: disable_ipv6=1); accept_ra=0 as well, should IPv6 be turned back on. The
 * container's own interface keeps its namespace's settings. */
static int ipv6_off(const char *ifname, struct berth_error **err) {
  int rc = ipv6_conf(ifname, "accept_ra", "0");
  if (rc == 0) rc = ipv6_conf(ifname, "disable_ipv6", "1");
  if (rc < 0) return berth_fail(err, -rc, "ipv6", "turn IPv6 off on %s", ifname);
  return 0;
}

/* ---- bridge, bridge-del ---- */

static int bridge_create(int fd, const struct opts *o, struct berth_error **err) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  attr_str(&r, IFLA_IFNAME, o->name);
  if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  attr_str(&r, IFLA_INFO_KIND, "bridge");
  nest_end(&r, info);
  int rc = nl_talk(fd, &r, NULL, 0);
  /* EEXIST: another berth made it first; it is checked like an existing one. */
  if (rc < 0 && rc != -EEXIST) return berth_fail(err, -rc, "bridge", "create bridge %s", o->name);
  return 0;
}

static int cmd_bridge(const struct opts *o, struct berth_error **err) {
  cleanup_close int fd = nl_open(err);
  if (fd < 0) return -1;
  struct link br;
  int rc = link_find(fd, o->name, "bridge", &br, err);
  if (rc == 1) {
    if (bridge_create(fd, o, err) < 0) return -1;
    rc = link_find(fd, o->name, "bridge", &br, err);
    if (rc == 1) return berth_fail(err, ENODEV, "bridge", "bridge %s", o->name);
  }
  if (rc < 0) return berth_error_prefix(err, "bridge %s", o->name);
  if (ipv6_off(o->name, err) < 0) return -1;
  rc = addr_add(fd, br.index, o->addr, o->prefix);
  if (rc < 0) return berth_fail(err, -rc, "bridge", "add address %s to bridge %s", o->cidr, o->name);
  rc = link_up(fd, br.index, NULL, o->mtu);
  if (rc < 0) return berth_fail(err, -rc, "bridge", "set bridge %s up%s", o->name, o->mtu > 0 ? " with its MTU" : "");
  return 0;
}

static int cmd_bridge_del(const struct opts *o, struct berth_error **err) {
  cleanup_close int fd = nl_open(err);
  if (fd < 0) return -1;
  return link_del_kind(fd, o->name, "bridge", err);
}

/* ---- network namespaces ---- */

/* As iproute2's netns_add: the directory of namespace files is made (0755) and is a shared
 * mount point, so that unmounting a file there reaches the mount namespaces that copied it. */
static int shared_dir(const char *dir, struct berth_error **err) {
  char partial[4096];
  snprintf(partial, sizeof(partial), "%s", dir);
  for (char *p = partial + 1;; p++) {
    if (*p != '/' && *p != '\0') continue;
    char c = *p;
    *p = '\0';
    if (mkdir(partial, 0755) < 0 && errno != EEXIST) return berth_fail(err, errno, "netns", "mkdir %s", partial);
    if (c == '\0') break;
    *p = c;
  }
  /* MS_SHARED fails with EINVAL where dir is not a mount point: bind it on itself once. */
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) == 0) return 0;
  if (errno != EINVAL) return berth_fail(err, errno, "netns", "make %s a shared mount", dir);
  if (mount(dir, dir, "none", MS_BIND | MS_REC, NULL) < 0)
    return berth_fail(err, errno, "netns", "bind-mount %s on itself", dir);
  if (mount("", dir, "none", MS_SHARED | MS_REC, NULL) < 0)
    return berth_fail(err, errno, "netns", "make %s a shared mount", dir);
  return 0;
}

static void netns_remove(const char *path) {
  umount2(path, MNT_DETACH);
  unlink(path);
}

/* Inside a new network namespace: bind it at path, set lo up, keep an fd of the namespace
 * (*ns) and a netlink socket in it (*nl). */
static int netns_fill(const char *path, int *ns, int *nl, struct berth_error **err) {
  if (mount("/proc/self/ns/net", path, "none", MS_BIND, NULL) < 0)
    return berth_fail(err, errno, "netns", "bind-mount the new network namespace at %s", path);
  *ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (*ns < 0) return berth_fail(err, errno, "netns", "open /proc/self/ns/net");
  *nl = nl_open(err);
  if (*nl < 0) return -1;
  int rc = link_up(*nl, 0, "lo", 0);
  if (rc < 0) return berth_fail(err, -rc, "netns", "set lo up");
  return 0;
}

/* A new network namespace bind-mounted at path (undone on failure); this process stays
 * in its own (home). The namespace's fd goes to *ns and a netlink socket in it to *nl. */
static int netns_create(const char *path, int home, int *ns, int *nl, struct berth_error **err) {
  char dir[4096];
  snprintf(dir, sizeof(dir), "%s", path);
  *strrchr(dir, '/') = '\0';
  if (shared_dir(dir, err) < 0) return -1;
  int file = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
  if (file < 0 && errno == EEXIST) return berth_fail(err, 0, "netns", "netns %s exists", path);
  if (file < 0) return berth_fail(err, errno, "netns", "create %s", path);
  close(file);
  /* Single threaded: unshare moves the whole process, and setns brings it back. */
  if (unshare(CLONE_NEWNET) < 0) {
    berth_fail(err, errno, "netns", "unshare(CLONE_NEWNET)");
    unlink(path);
    return -1;
  }
  int rc = netns_fill(path, ns, nl, err);
  if (setns(home, CLONE_NEWNET) < 0) {
    /* Nothing more can be done in the right namespace: undo and stop here. */
    berth_fail(err, errno, "netns", "return to the host's network namespace");
    netns_remove(path);
    return -1;
  }
  if (rc < 0) netns_remove(path);
  return rc;
}

/* An existing namespace's fd (*ns) and a netlink socket in it (*nl). */
static int netns_open(const char *path, int home, int *ns, int *nl, struct berth_error **err) {
  *ns = open(path, O_RDONLY | O_CLOEXEC);
  if (*ns < 0) return berth_fail(err, errno, "netns", "open netns %s", path);
  if (setns(*ns, CLONE_NEWNET) < 0) return berth_fail(err, errno, "netns", "enter netns %s", path);
  *nl = nl_open(err);
  if (setns(home, CLONE_NEWNET) < 0) return berth_fail(err, errno, "netns", "return to the host's network namespace");
  return *nl < 0 ? -1 : 0;
}

/* ---- attach, detach ---- */

/* One RTM_NEWLINK: VETH on the bridge, up, here; its peer IFNAME with MAC in ns. */
static int veth_create(int fd, const struct opts *o, int bridge, int ns) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC, .ifi_flags = IFF_UP, .ifi_change = IFF_UP};
  req_init(&r, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, &ifi, sizeof(ifi));
  attr_str(&r, IFLA_IFNAME, o->host_if);
  if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
  attr_u32(&r, IFLA_MASTER, (unsigned)bridge);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  attr_str(&r, IFLA_INFO_KIND, "veth");
  struct rtattr *data = attr(&r, IFLA_INFO_DATA, NULL, 0);
  struct rtattr *peer = attr(&r, VETH_INFO_PEER, NULL, 0);
  /* The peer's own ifinfomsg, then its attributes. Not IFF_UP: veth_newlink would open the
   * peer before the pair is joined, and veth_open fails with ENOTCONN. */
  struct ifinfomsg peer_ifi = {.ifi_family = AF_UNSPEC};
  memcpy(r.buf + r.nh.nlmsg_len, &peer_ifi, sizeof(peer_ifi));
  r.nh.nlmsg_len += NLMSG_ALIGN(sizeof(peer_ifi));
  attr_str(&r, IFLA_IFNAME, o->ifname);
  attr_u32(&r, IFLA_NET_NS_FD, (unsigned)ns);
  attr(&r, IFLA_ADDRESS, o->mac, sizeof(o->mac));
  if (o->mtu > 0) attr_u32(&r, IFLA_MTU, (unsigned)o->mtu);
  nest_end(&r, peer);
  nest_end(&r, data);
  nest_end(&r, info);
  struct req again = r;
  int rc = nl_talk(fd, &r, NULL, 0);
  if (rc != -EEXIST) return rc;
  /* The same container's pair from its last run: the kernel deletes a pair when its
   * namespace goes, but in the background, and a quick restart can come first. (EEXIST
   * for IFNAME in the container's namespace leaves no VETH here to delete.) */
  struct link old;
  if (link_get(fd, o->host_if, &old) < 0 || strcmp(old.kind, "veth") != 0 || link_del(fd, old.index) < 0) return rc;
  return nl_talk(fd, &again, NULL, 0);
}

/* Hairpin: with br_netfilter a container's connection to its own published port is DNATed
 * on the bridge and has to leave by the port it came in (docker sets the same when it runs
 * without its userland proxy). As `ip link set VETH type bridge_slave hairpin on`: through
 * rtnetlink, which waits for the RTNL lock, where brport/hairpin_mode in sysfs spins on it
 * (rtnl_trylock, restart_syscall) while a namespace is being torn down. */
static int hairpin_on(int fd, const char *host_if) {
  struct req r;
  struct ifinfomsg ifi = {.ifi_family = AF_UNSPEC};
  req_init(&r, RTM_NEWLINK, 0, &ifi, sizeof(ifi));
  attr_str(&r, IFLA_IFNAME, host_if);
  struct rtattr *info = attr(&r, IFLA_LINKINFO, NULL, 0);
  struct rtattr *port = attr(&r, IFLA_INFO_SLAVE_DATA, NULL, 0);
  unsigned char on = 1;
  attr(&r, IFLA_BRPORT_MODE, &on, sizeof(on));
  nest_end(&r, port);
  nest_end(&r, info);
  return nl_talk(fd, &r, NULL, 0);
}

/* In the container's namespace (nl is a socket there): IFNAME's address, IFNAME up, lo up
 * (made up with a new namespace), the default route. */
static int configure_inside(int nl, const struct opts *o, struct berth_error **err) {
  struct link l;
  int rc = link_get(nl, o->ifname, &l);
  if (rc < 0) return berth_fail(err, -rc, "attach", "find %s in netns %s", o->ifname, o->netns);
  rc = addr_add(nl, l.index, o->addr, o->prefix);
  if (rc < 0) return berth_fail(err, -rc, "attach", "add address %s to %s in netns %s", o->cidr, o->ifname, o->netns);
  if ((rc = link_up(nl, l.index, NULL, 0)) < 0)
    return berth_fail(err, -rc, "attach", "set %s up in netns %s", o->ifname, o->netns);
  if (!o->create && (rc = link_up(nl, 0, "lo", 0)) < 0)
    return berth_fail(err, -rc, "attach", "set lo up in netns %s", o->netns);
  if (!o->has_gateway) return 0;
  struct req r;
  struct rtmsg rt = {.rtm_family = AF_INET,
                     .rtm_table = RT_TABLE_MAIN,
                     .rtm_protocol = RTPROT_BOOT,
                     .rtm_scope = RT_SCOPE_UNIVERSE,
                     .rtm_type = RTN_UNICAST};
  req_init(&r, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, &rt, sizeof(rt));
  attr(&r, RTA_GATEWAY, &o->gateway, sizeof(o->gateway));
  attr_u32(&r, RTA_OIF, (unsigned)l.index);
  if (o->route_mtu > 0) {
    struct rtattr *metrics = attr(&r, RTA_METRICS, NULL, 0);
    attr_u32(&r, RTAX_MTU, (unsigned)o->route_mtu);
    nest_end(&r, metrics);
  }
  rc = nl_talk(nl, &r, NULL, 0);
  if (rc < 0 && rc != -EEXIST)
    return berth_fail(err, -rc, "attach", "add the default route via %s in netns %s", o->gateway_text, o->netns);
  return 0;
}

static int cmd_attach(const struct opts *o, struct berth_error **err) {
  cleanup_close int fd = nl_open(err);
  if (fd < 0) return -1;
  struct link br;
  int rc = link_find(fd, o->bridge, "bridge", &br, err);
  if (rc == 1) return berth_fail(err, 0, "attach", "bridge %s does not exist", o->bridge);
  if (rc < 0) return berth_error_prefix(err, "attach to bridge %s", o->bridge);
  cleanup_close int home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) return berth_fail(err, errno, "attach", "open /proc/self/ns/net");
  cleanup_close int ns = -1;
  cleanup_close int inside = -1;
  rc = o->create ? netns_create(o->netns, home, &ns, &inside, err) : netns_open(o->netns, home, &ns, &inside, err);
  if (rc < 0) return -1;
  rc = veth_create(fd, o, br.index, ns);
  if (rc < 0) {
    berth_fail(err, -rc, "attach", "create veth %s on bridge %s", o->host_if, o->bridge);
  } else {
    int hp = hairpin_on(fd, o->host_if);
    if (hp < 0) berth_fail(err, -hp, "attach", "set hairpin mode on %s", o->host_if);
    /* The bridge again: one made by a berth from before this was set keeps IPv6 on. */
    else if (ipv6_off(o->host_if, err) == 0 && ipv6_off(o->bridge, err) == 0 && configure_inside(inside, o, err) == 0)
      return 0;
  }
  /* Undo this run's part: the pair (when made here), then the namespace. */
  struct link made;
  if (rc == 0 && link_get(fd, o->host_if, &made) == 0) link_del(fd, made.index);
  if (o->create) netns_remove(o->netns);
  return -1;
}

static int cmd_detach(const struct opts *o, struct berth_error **err) {
  if (o->host_if != NULL) {
    cleanup_close int fd = nl_open(err);
    if (fd < 0 || link_del_kind(fd, o->host_if, "veth", err) < 0) return -1;
  }
  if (!o->remove_netns) return 0;
  /* EINVAL: not a mount point (unmounted already); ENOENT: no file. */
  if (umount2(o->netns, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
    return berth_fail(err, errno, "detach", "unmount netns %s", o->netns);
  if (unlink(o->netns) < 0 && errno != ENOENT) return berth_fail(err, errno, "detach", "remove netns %s", o->netns);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) usage("no command");
  if (strcmp(argv[1], "version") == 0) {
    if (argc > 2) usage("version takes no options");
    puts("1");
    return 0;
  }
  struct opts o;
  unsigned cmd = parse_args(argc, argv, &o);
  cleanup_error struct berth_error *err = NULL;
  int rc = cmd == BRIDGE       ? cmd_bridge(&o, &err)
           : cmd == BRIDGE_DEL ? cmd_bridge_del(&o, &err)
           : cmd == ATTACH     ? cmd_attach(&o, &err)
                               : cmd_detach(&o, &err);
  if (rc < 0) {
    fprintf(stderr, "berth-net: %s\n", err != NULL ? err->message : "out of memory");
    return 1;
  }
  return 0;
}
