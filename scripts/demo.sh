#!/usr/bin/env bash
# berth's main job, end to end and offline: set up, start a registry on 127.0.0.1, seed it
# with a busybox image made from Debian's busybox-static package, pull it with berth into the
# default store, and list and inspect it. The registry and scratch files are removed at the
# end; the pulled image stays in berth's store (see "berth images"). Then containers: run,
# exec, logs, stop, and two on a user network, one serving on a published port.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${BERTH_SKIP_SETUP:-0}" != 1 ]; then
  bash scripts/setup.sh
fi

work=$(mktemp -d /tmp/berth-demo.XXXXXX)
registry_pid=""
cleanup() {
  if [ -n "$registry_pid" ]; then kill "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building a busybox image from /bin/busybox (Debian busybox-static)"
umoci init --layout "$work/oci"
umoci new --image "$work/oci:latest"
umoci unpack --image "$work/oci:latest" "$work/bundle" >/dev/null
rootfs="$work/bundle/rootfs"
mkdir -p "$rootfs/bin" "$rootfs/etc" "$rootfs/tmp" "$rootfs/root"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' > "$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
umoci repack --image "$work/oci:latest" "$work/bundle" >/dev/null
umoci config --image "$work/oci:latest" --config.cmd sh --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin >/dev/null

echo "== starting a registry on 127.0.0.1"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$work/registry.yml" <<YAML
version: 0.1
log: { level: error }
storage: { filesystem: { rootdirectory: $work/registry } }
http: { addr: 127.0.0.1:$port }
YAML
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done
skopeo copy --quiet --dest-tls-verify=false "oci:$work/oci:latest" "docker://127.0.0.1:$port/library/busybox:latest"

echo "== berth pull 127.0.0.1:$port/library/busybox:latest"
berth pull "127.0.0.1:$port/library/busybox:latest"
# The registry's port changes from run to run: keep the image under a stable name.
berth tag "127.0.0.1:$port/library/busybox:latest" busybox:latest
berth rmi "127.0.0.1:$port/library/busybox:latest" >/dev/null
echo "== berth images"
berth images
echo "== berth image inspect busybox (GraphDriver)"
berth image inspect busybox | grep -A4 '"GraphDriver"'
echo "== berth run --rm busybox: a container from the pulled image"
berth run --rm --name berth-demo busybox sh -c 'echo "hello from $(hostname), PID $$ in its own namespaces"; id; ls /'
echo "== berth run -d, exec, logs, stop, rm"
id=$(berth run -d busybox sh -c 'i=0; while true; do echo "tick $i"; i=$((i+1)); sleep 1; done')
berth exec "$id" sh -c 'echo "exec joined $(hostname)"; ps'
sleep 1
berth logs --tail 2 "$id"
berth stop -t 2 "$id" >/dev/null
berth ps -a --filter "id=$id"
berth rm "$id" >/dev/null
echo "== networks: containers find each other by name on a user network; a published port"
berth rm -f berth-demo-web >/dev/null 2>&1 || true
berth network rm berth-demo-net >/dev/null 2>&1 || true
berth network create berth-demo-net >/dev/null
berth run -d --name berth-demo-web --network berth-demo-net -p 127.0.0.1::80 busybox \
  sh -c 'echo "hello over the network from $(hostname)" > /tmp/index.html; exec httpd -f -p 80 -h /tmp' >/dev/null
berth port berth-demo-web
port=$(berth port berth-demo-web 80 | cut -d: -f2)
sleep 0.3
berth run --rm --network berth-demo-net busybox wget -q -O- http://berth-demo-web/index.html
curl -fs "http://127.0.0.1:$port/index.html"
berth rm -f berth-demo-web >/dev/null
berth network rm berth-demo-net >/dev/null
