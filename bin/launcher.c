/* berth, the command on PATH (dist/native/berth, linked by scripts/setup.sh): starts Node on
 * berth's CLI, bin/berth, in the same checkout, with the same arguments and environment but
 * for one variable.
 *
 * NODE_EXTRA_CA_CERTS: Node 20 reads that file and builds its whole root certificate store
 * at start-up, before any JavaScript runs, which here is about 35 ms of every command,
 * more than all the rest of Node's start-up. berth needs certificates only to reach a
 * registry over TLS. So the launcher hands the value on as _BERTH_NODE_EXTRA_CA_CERTS;
 * bin/berth puts it back in process.env (for containers' `-e NODE_EXTRA_CA_CERTS`, runc,
 * the exit command), and the registry client trusts those certificates itself when it
 * connects (cmd/context.ts). */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HANDED_ON "_BERTH_NODE_EXTRA_CA_CERTS"

int main(int argc, char **argv) {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n < 0) {
    fprintf(stderr, "Error: berth cannot find itself: readlink /proc/self/exe: %s\n", strerror(errno));
    return 125;
  }
  self[n] = '\0';
  /* <root>/dist/native/berth → <root>/bin/berth */
  const char *tail = "/dist/native/berth";
  size_t len = (size_t)n, tlen = strlen(tail);
  if (len <= tlen || strcmp(self + len - tlen, tail) != 0) {
    fprintf(stderr, "Error: berth's launcher is at %s, not in a checkout's dist/native/\n", self);
    return 125;
  }
  char script[PATH_MAX];
  snprintf(script, sizeof(script), "%.*s/bin/berth", (int)(len - tlen), self);

  const char *extra = getenv("NODE_EXTRA_CA_CERTS");
  if (extra != NULL) {
    if (setenv(HANDED_ON, extra, 1) < 0 || unsetenv("NODE_EXTRA_CA_CERTS") < 0) {
      fprintf(stderr, "Error: berth cannot set its environment: %s\n", strerror(errno));
      return 125;
    }
  }

  char **args = calloc((size_t)argc + 2, sizeof(char *));
  if (args == NULL) return 125;
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < argc; i++)
    args[i + 1] = argv[i];
  execvp("node", args);
  fprintf(stderr, "Error: berth cannot start node: %s\nHint: install Node.js 20 or later (scripts/setup.sh does)\n",
          strerror(errno));
  return 125;
}
