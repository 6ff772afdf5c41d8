/*
 * berth_fsx: the few filesystem calls Node.js lacks and the image unpacker needs:
 * mknod (device nodes, overlay whiteouts), extended attributes on the link itself
 * (lsetxattr, llistxattr, lgetxattr), and openat2(RESOLVE_IN_ROOT) for a kernel-checked
 * resolution of a path inside a directory tree.
 *
 * Every function is synchronous and throws a JavaScript Error with `code` (errno name),
 * `errno` and `syscall` set, the way Node's own fs errors look, so the TypeScript side
 * (common/sys/fsx.ts) wraps them like any other fs error.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <node_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "gunzip.h"

#define PATH_BUF 4096
#define NAME_BUF 256

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *path) {
  char msg[PATH_BUF + 128];
  const char *code = strerrorname_np(err);
  if (code == NULL) code = "EUNKNOWN";
  snprintf(msg, sizeof msg, "%s, %s '%s'", code, syscall, path);
  napi_value jmsg, jcode, error, jerrno, jsys, jpath;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &jmsg);
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &jcode);
  napi_create_error(env, jcode, jmsg, &error);
  napi_create_int32(env, -err, &jerrno);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &jsys);
  napi_create_string_utf8(env, path, NAPI_AUTO_LENGTH, &jpath);
  napi_set_named_property(env, error, "errno", jerrno);
  napi_set_named_property(env, error, "syscall", jsys);
  napi_set_named_property(env, error, "path", jpath);
  napi_throw(env, error);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *buf, size_t len) {
  size_t got = 0;
  if (napi_get_value_string_utf8(env, v, buf, len, &got) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a string argument");
    return -1;
  }
  if (got >= len - 1) {
    napi_throw_range_error(env, NULL, "string argument too long");
    return -1;
  }
  return 0;
}

static int get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < want) {
    napi_throw_type_error(env, NULL, "missing arguments");
    return -1;
  }
  return 0;
}

/* mknod(path, mode, major, minor) */
static napi_value js_mknod(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  char path[PATH_BUF];
  uint32_t mode, maj, min;
  if (get_args(env, info, 4, argv) < 0 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  napi_get_value_uint32(env, argv[1], &mode);
  napi_get_value_uint32(env, argv[2], &maj);
  napi_get_value_uint32(env, argv[3], &min);
  if (mknod(path, (mode_t)mode, makedev(maj, min)) < 0) return throw_errno(env, errno, "mknod", path);
  return NULL;
}

/* lsetxattr(path, name, value: Buffer) */
static napi_value js_lsetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  char path[PATH_BUF], name[NAME_BUF];
  void *data = NULL;
  size_t len = 0;
  if (get_args(env, info, 3, argv) < 0 || get_string(env, argv[0], path, sizeof path) < 0 ||
      get_string(env, argv[1], name, sizeof name) < 0)
    return NULL;
  if (napi_get_buffer_info(env, argv[2], &data, &len) != napi_ok) {
    napi_throw_type_error(env, NULL, "expected a Buffer value");
    return NULL;
  }
  if (lsetxattr(path, name, data, len, 0) < 0) return throw_errno(env, errno, "lsetxattr", path);
  return NULL;
}

/* llistxattr(path): string[] */
static napi_value js_llistxattr(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  char path[PATH_BUF];
  if (get_args(env, info, 1, argv) < 0 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  ssize_t size = llistxattr(path, NULL, 0);
  if (size < 0) return throw_errno(env, errno, "llistxattr", path);
  char *buf = malloc((size_t)size + 1);
  if (buf == NULL) return throw_errno(env, ENOMEM, "llistxattr", path);
  size = llistxattr(path, buf, (size_t)size);
  if (size < 0) {
    int err = errno;
    free(buf);
    return throw_errno(env, err, "llistxattr", path);
  }
  napi_create_array(env, &result);
  uint32_t i = 0;
  for (ssize_t off = 0; off < size;) {
    size_t n = strnlen(buf + off, (size_t)(size - off));
    napi_value s;
    napi_create_string_utf8(env, buf + off, n, &s);
    napi_set_element(env, result, i++, s);
    off += (ssize_t)n + 1;
  }
  free(buf);
  return result;
}

/* lgetxattr(path, name): Buffer */
static napi_value js_lgetxattr(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  char path[PATH_BUF], name[NAME_BUF];
  if (get_args(env, info, 2, argv) < 0 || get_string(env, argv[0], path, sizeof path) < 0 ||
      get_string(env, argv[1], name, sizeof name) < 0)
    return NULL;
  ssize_t size = lgetxattr(path, name, NULL, 0);
  if (size < 0) return throw_errno(env, errno, "lgetxattr", path);
  void *data = NULL;
  napi_create_buffer(env, (size_t)size, &data, &result);
  if (size > 0 && lgetxattr(path, name, data, (size_t)size) < 0) return throw_errno(env, errno, "lgetxattr", path);
  return result;
}

/*
 * resolveInRoot(root, path): the path of `path` resolved inside `root` with
 * openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) (openat2(2)), every symlink on the way
 * followed as if `root` were "/". Returns the resolved absolute path, read back from
 * /proc/self/fd. Throws ENOENT when a component is missing.
 */
static napi_value js_resolve_in_root(napi_env env, napi_callback_info info) {
  napi_value argv[2], result;
  char root[PATH_BUF], path[PATH_BUF], link[64], out[PATH_BUF];
  if (get_args(env, info, 2, argv) < 0 || get_string(env, argv[0], root, sizeof root) < 0 ||
      get_string(env, argv[1], path, sizeof path) < 0)
    return NULL;
  int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) return throw_errno(env, errno, "open", root);
  struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
  int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
  int err = errno;
  close(rootfd);
  if (fd < 0) return throw_errno(env, err, "openat2", path);
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, out, sizeof out - 1);
  err = errno;
  close(fd);
  if (n < 0) return throw_errno(env, err, "readlink", link);
  napi_create_string_utf8(env, out, (size_t)n, &result);
  return result;
}

/*
 * markTopDir(path): sets FS_TOPDIR_FL (chattr +T) on a directory, so that ext4's Orlov
 * allocator treats its subdirectories as tops of hierarchies and spreads them over block
 * groups (ioctl_iflags(2)). Only a hint: returns false where the filesystem does not
 * support it. Without it, layers unpacked right after others were deleted land in block
 * groups full of recently deleted inodes, which ext4 scans past one by one on every create.
 */
static napi_value js_mark_top_dir(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  char path[PATH_BUF];
  if (get_args(env, info, 1, argv) < 0 || get_string(env, argv[0], path, sizeof path) < 0) return NULL;
  int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return throw_errno(env, errno, "open", path);
  int flags = 0;
  int ok = ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
  if (ok && (flags & FS_TOPDIR_FL) == 0) {
    flags |= FS_TOPDIR_FL;
    ok = ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
  }
  int err = errno;
  close(fd);
  if (!ok && err != ENOTTY && err != EOPNOTSUPP && err != EINVAL && err != EPERM && err != EACCES)
    return throw_errno(env, err, "ioctl FS_IOC_SETFLAGS", path);
  napi_get_boolean(env, ok, &result);
  return result;
}

static napi_value init(napi_env env, napi_value exports) {
  napi_property_descriptor props[] = {
      {"mknod", NULL, js_mknod, NULL, NULL, NULL, napi_default, NULL},
      {"lsetxattr", NULL, js_lsetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"llistxattr", NULL, js_llistxattr, NULL, NULL, NULL, napi_default, NULL},
      {"lgetxattr", NULL, js_lgetxattr, NULL, NULL, NULL, napi_default, NULL},
      {"resolveInRoot", NULL, js_resolve_in_root, NULL, NULL, NULL, napi_default, NULL},
      {"markTopDir", NULL, js_mark_top_dir, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  berth_register_gunzip(env, exports);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
