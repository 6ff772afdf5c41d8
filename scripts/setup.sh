#!/usr/bin/env bash
# Installs what berth and its tests need on Debian 12 (bookworm), builds berth and puts
# `berth` on PATH. Idempotent; run as root from anywhere:
#
#   scripts/setup.sh            apt packages, npm ci, npm run build, /usr/local/bin/berth
#   scripts/setup.sh --check    only check that every package exists in apt (no changes)
#   scripts/setup.sh --skip-apt | --skip-npm | --no-link    leave out a step
#
# Output of every command goes to $BERTH_SETUP_LOG (default /tmp/berth-setup.log); the
# terminal gets one line per step and, on failure, the end of the log.
set -euo pipefail

repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)
log=${BERTH_SETUP_LOG:-/tmp/berth-setup.log}

# One line each: why berth needs it.
packages=(
  g++ make python3            # node-gyp builds the native addon (common/sys/native)
  libisal-dev                 # ISA-L inflate: the addon's gunzip for layers (gunzip.c)
  docker-registry             # the real registry of the integration tests (distribution 2.8)
  skopeo                      # independent pushes/inspects of test images
  umoci                       # independent unpack to compare berth's rootfs with
  busybox-static              # the busybox fixture image and VM initramfs
  zstd                        # zstd layer fixtures (Node 20 has no zstd)
  hyperfine                   # benchmarks
  apache2-utils               # htpasswd for the basic-auth registry
  openssl                     # token-server key and certificate
  clang-format                # C formatting check (runtime/native)
  attr                        # getfattr/setfattr for xattr checks by hand
  iproute2 nftables           # bridge, veth, NAT and port publishing
  iperf3                      # the veth throughput benchmark (bench/network.ts)
  bind9-dnsutils              # dig: an independent DNS client for the responder's tests
  crun runc                   # --runtime crun|runc, and the peer benchmarks
  qemu-system-x86             # run --vm (microvm)
  podman docker.io containerd # peer benchmarks (started by hand, see shared/PEERS.md)
  containernetworking-plugins catatonit # podman 4.3 networking and --init
  uidmap                      # newuidmap/newgidmap for rootless id maps
  git
)

check_only=false skip_apt=false skip_npm=false link=true
for arg in "$@"; do
  case $arg in
    --check) check_only=true ;;
    --skip-apt) skip_apt=true ;;
    --skip-npm) skip_npm=true ;;
    --no-link) link=false ;;
    -h | --help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option \"$arg\" (see --help)" >&2; exit 2 ;;
  esac
done

step() { printf '==> %s\n' "$*"; printf '\n==> %s\n' "$*" >>"$log"; }
die() { echo "setup.sh: $*" >&2; exit 1; }
# Runs a command with its output in the log; on failure shows the log's end and stops.
quiet() {
  local rc=0
  "$@" >>"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    echo "setup.sh: \"$*\" failed with status $rc; the end of $log:" >&2
    tail -n 40 "$log" >&2
    exit "$rc"
  fi
}

: >"$log"
[[ $(id -u) -eq 0 ]] || die "run as root (apt-get, npm link and berth's tests need it)"
if ! grep -qs '^VERSION_CODENAME=bookworm' /etc/os-release; then
  echo "setup.sh: warning: this is not Debian 12 (bookworm); package names may differ" >&2
fi

# Packages that dpkg does not have installed yet.
not_installed() {
  local pkg
  for pkg in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || echo "$pkg"
  done
}

# Fails unless apt has an installation candidate for every package named.
check_candidates() {
  local pkg candidate missing=()
  for pkg in "$@"; do
    candidate=$(apt-cache policy "$pkg" 2>/dev/null | awk '/Candidate:/ { print $2 }')
    [[ -n $candidate && $candidate != "(none)" ]] || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) || die "apt has no candidate for: ${missing[*]}"
}

if $check_only; then
  step "apt-get update"
  quiet env DEBIAN_FRONTEND=noninteractive apt-get update
  check_candidates "${packages[@]}"
  echo "all ${#packages[@]} packages exist: ${packages[*]}"
  exit 0
fi

if ! $skip_apt; then
  mapfile -t wanted < <(not_installed)
  if ((${#wanted[@]} == 0)); then
    step "apt packages: all ${#packages[@]} installed already"
  else
    step "apt-get update"
    quiet env DEBIAN_FRONTEND=noninteractive apt-get update
    check_candidates "${wanted[@]}"
    step "apt-get install ${wanted[*]}"
    # Keep package scripts from starting daemons (docker, containerd, the registry on :5000):
    # tests start their own by hand. invoke-rc.d honours policy-rc.d's exit status 101.
    policy=/usr/sbin/policy-rc.d
    own_policy=false
    if [[ ! -e $policy ]]; then
      printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && own_policy=true
    fi
    rc=0
    env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${wanted[@]}" >>"$log" 2>&1 || rc=$?
    if $own_policy; then rm -f "$policy"; fi
    if ((rc != 0)); then
      echo "setup.sh: apt-get install failed with status $rc; the end of $log:" >&2
      tail -n 40 "$log" >&2
      exit "$rc"
    fi
  fi
fi

if ! $skip_npm; then
  command -v node >/dev/null || die "node is not installed (berth needs Node.js >= 20.18.1)"
  node -e 'const [a,b,c]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&(b>18||(b===18&&c>=1)))?0:1)' ||
    die "Node.js $(node --version) is too old: berth needs >= 20.18.1"
  cd "$repo"
  # npm ci starts from an empty node_modules: skip it when nothing it installs from changed.
  stamp=node_modules/.berth-setup-stamp
  deps_stamp() { echo "$(node --version) $(cat package.json package-lock.json 2>/dev/null | sha256sum | cut -d' ' -f1)"; }
  if [[ -f $stamp && $(cat "$stamp") == "$(deps_stamp)" && -f common/sys/native/build/Release/berth_fsx.node ]]; then
    step "node_modules up to date"
  elif [[ -f package-lock.json ]]; then
    step "npm ci"
    # Exactly as locked, never "npm install": that rewrites package-lock.json and leaves the
    # checkout dirty. If npm ci finds the lock out of sync with package.json, fix the lock
    # (npm install --package-lock-only) and commit it; test/unit/package-lock.test.ts checks it.
    start=$(wc -l <"$log")
    rc=0
    npm ci --no-audit --no-fund >>"$log" 2>&1 || rc=$?
    if ((rc != 0)); then
      # npm prints the reason ("Missing: ... from lock file") first and its usage text last.
      echo "setup.sh: \"npm ci\" failed with status $rc; its first errors (all of them in $log):" >&2
      tail -n "+$((start + 1))" "$log" | grep '^npm error .' | head -n 40 >&2
      exit "$rc"
    fi
    deps_stamp >"$stamp"
  else
    step "npm install (no package-lock.json)"
    quiet npm install --no-audit --no-fund
    deps_stamp >"$stamp"
  fi
  step "npm run build"
  quiet npm run build
fi

if $link; then
  # The launcher (bin/launcher.c) starts bin/berth: it spares Node's start-up the loading
  # of NODE_EXTRA_CA_CERTS.
  if [[ -x $repo/dist/native/berth ]]; then
    ln -sfn "$repo/dist/native/berth" /usr/local/bin/berth
    step "berth on PATH: /usr/local/bin/berth -> $repo/dist/native/berth"
  else
    step "dist/native/berth is not built: /usr/local/bin/berth not linked"
  fi
fi

echo "setup.sh: done (log: $log)"
