/**
 * berth's cgroup v2 driver on a pure cgroup v2 host. This project's machines are hybrid
 * and must not be rearranged, so the test boots a throwaway QEMU guest (test/helpers/qemu.ts)
 * with cgroup v2 alone at /sys/fs/cgroup and runs the real berth CLI there, on a store
 * pulled on the host (setUpContainers) and copied in with the built checkout. One boot runs
 * every command (boots and TCG are slow); the guest prints sections that the tests read:
 * limits as the container and the host see them, OOM kills, freezing, `update`, `stats`,
 * the BPF device program, cgroup.kill of many processes, and that nothing is left.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthGuestInput, berthGuestPrelude, parseSections, type Section } from '../helpers/berth-guest.js';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { type GuestResult, guestPrerequisites, runInGuest } from '../helpers/qemu.js';
import { checkPrerequisites, skipReason } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['qemu-system-x86_64', 'busybox', 'ldd', 'docker-registry', 'skopeo', 'cc'] }) ??
  skipReason(await guestPrerequisites());

const MiB = 1024 * 1024;
/** runc's ConvertCPUSharesToCgroupV2Value(512) (opencontainers/cgroups utils.go). */
const weightOf512Shares = 59;

/**
 * The guest's part, after the prelude. Every container runs with --network none: the guest
 * has no ip or nft, and networks are not what this tests.
 */
function guestScript(image: string): string {
  return String.raw`
IMG=${image}
G=/sys/fs/cgroup/berth
# Polls (0.2 s) until the command succeeds, for up to $1 tries.
until_ok() { _n=$1; shift; while ! "$@" >/dev/null 2>&1; do _n=$((_n - 1)); [ $_n -gt 0 ] || return 1; sleep 0.2; done; }
pids_at_least() { [ "$(cat "$1/pids.current" 2>/dev/null || echo 0)" -ge "$2" ]; }
leaf_state() { if [ -e "$1" ]; then echo present; else echo gone; fi; }

# 1. Limits as the container sees them, in a cgroup namespace of its own.
rec limits B run --rm --network none -m 64m --memory-swap 64m --cpus 0.5 --pids-limit 20 "$IMG" sh -c \
  'cat /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory.swap.max /sys/fs/cgroup/cpu.max /sys/fs/cgroup/pids.max; cat /proc/self/cgroup'

# 2. The leaf as the host sees it.
rec leaf-run B run -d --network none --name leaf -m 64m --memory-swap 64m --cpus 0.5 --pids-limit 20 --cpu-shares 512 \
  --cpuset-cpus 1 "$IMG" sleep 600
L=$G/$(B inspect -f '{{.Id}}' leaf)
echo "#@leaf $L"
rec leaf-files cat $L/memory.max $L/memory.swap.max $L/cpu.max $L/pids.max $L/cpu.weight $L/cpuset.cpus
leaf_procs() { echo "pid=$(B inspect -f '{{.State.Pid}}' leaf)"; echo "procs=$(cat $L/cgroup.procs)"; }
rec leaf-procs leaf_procs
rec subtree cat $G/cgroup.subtree_control
rec leaf-rm B rm -f leaf
rec leaf-gone leaf_state $L

# 3. OOM: a string that doubles until 16 MiB without swap cannot hold it.
rec oom B run --name oom --network none -m 16m --memory-swap 16m "$IMG" sh -c 'x=a; while :; do x="$x$x"; done'
rec oom-state B inspect -f '{{.State.OOMKilled}} {{.State.ExitCode}}' oom
O=$G/$(B inspect -f '{{.Id}}' oom)
# berth keeps an exited container's leaf until rm (a start uses it again): the count is there.
rec oom-events grep oom_kill $O/memory.events
# cp from an exited container: the holder of its filesystem joins its leaf for a while.
rec oom-cp B cp oom:/etc/group /tmp/oom-group
rec oom-cp-file cat /tmp/oom-group
rec oom-rm B rm oom
rec oom-gone leaf_state $O

# 4-6. Freezing, update and stats of one container with three processes.
rec pz-run B run -d --network none --name pz -m 64m "$IMG" sh -c 'sleep 600 & sleep 600 & exec sleep 600'
P=$G/$(B inspect -f '{{.Id}}' pz)
until_ok 50 pids_at_least $P 3
rec pause B pause pz
rec paused-files cat $P/cgroup.freeze $P/cgroup.events
rec paused-ps B ps --format '{{.Names}}: {{.Status}}'
rec unpause B unpause pz
rec unpaused-files cat $P/cgroup.freeze $P/cgroup.events
rec unpaused-ps B ps --format '{{.Names}}: {{.Status}}'
rec update B update -m 128m pz
rec updated-files cat $P/memory.max $P/memory.swap.max
rec stats B stats --no-stream --format json pz
rec stats-files cat $P/pids.current $P/memory.max
# An exec joins the leaf, the root of the container's cgroup namespace: one more process
# (sh -c execs its one command).
rec exec-cgroup B exec pz sh -c 'cat /proc/self/cgroup /sys/fs/cgroup/pids.current'
rec restart B restart -t 0 pz
until_ok 50 pids_at_least $P 3
rec restarted-files cat $P/memory.max $P/pids.current
rec pz-rm B rm -f pz
rec pz-gone leaf_state $P

# 7. Device rules: the BPF program allows mknod of any device, but not opening block 8:0 (sda).
rec devices B run --rm --network none "$IMG" sh -c 'mkdir -p /tmp && mknod /tmp/sda b 8 0 && echo mknod-ok
  head -c 1 /tmp/sda >/dev/null; echo "sda-read=$?"
  head -c 1 /dev/null; echo "null-read=$?"
  echo x >/dev/null; echo "null-write=$?"'

# 8. Many processes: kill, then rm; and rm -f.
many() { B run -d --network none --name "$1" "$IMG" sh -c 'i=0; while [ $i -lt 40 ]; do sleep 600 & i=$((i + 1)); done; wait'; }
rec many-run many many
M=$G/$(B inspect -f '{{.Id}}' many)
until_ok 100 pids_at_least $M 41
rec many-pids cat $M/pids.current
rec many-kill B kill many
rec many-wait B wait many
rec many-rm B rm many
rec many-gone leaf_state $M
rec many2-run many many2
M2=$G/$(B inspect -f '{{.Id}}' many2)
until_ok 100 pids_at_least $M2 41
rec many2-pids cat $M2/pids.current
rec many2-rm B rm -f many2
rec many2-gone leaf_state $M2

# 9. Nothing left.
sleep 1
rec final-ps B ps -a -q
rec final-leaves find $G -mindepth 1 -type d
rec final-mounts grep -F "$ROOT" /proc/self/mountinfo
rec final-processes sh -c 'ps -o pid,args | grep -e "[b]erth-monitor" -e "[s]leep 600"'
exit 0
`;
}

describe.skipIf(skip !== undefined)('berth on a pure cgroup v2 host (a QEMU guest)', () => {
  let h: ContainerHarness | undefined;
  let result: GuestResult;
  let sections: Map<string, Section>;
  let leaf = '';

  /** A section that must exist, with its status. */
  const section = (name: string): Section => {
    const s = sections.get(name);
    if (s === undefined) throw new Error(`The guest printed no section "${name}"; its output:\n${result.output.slice(-4000)}`);
    return s;
  };
  /** A section's output lines; the section must have exited 0. */
  const lines = (name: string): string[] => {
    const s = section(name);
    expect(s.status, `${name}: ${s.output}`).toBe(0);
    return s.output.split('\n').filter((l) => l !== '');
  };

  beforeAll(async () => {
    const started = performance.now();
    h = await setUpContainers('v2guest');
    // Nothing runs in the store: the copy is quiet.
    expect(await h.listIds()).toEqual([]);
    const input = await berthGuestInput(h.root, h.work);
    const setUpMs = Math.round(performance.now() - started);
    result = await runInGuest({
      command: berthGuestPrelude(h.root) + guestScript(h.image),
      ...input,
      timeoutMs: 240_000,
      memoryMiB: 1024,
    });
    sections = parseSections(result.output);
    leaf = /^#@leaf (\S+)$/m.exec(result.output)?.[1] ?? '';
    const each = [...sections].map(([name, s]) => `${name} ${s.ms}`).join(', ');
    console.info(`cgroup v2 guest: host set-up ${setUpMs} ms; ${result.accel}, kernel ${result.kernel}, boot ${result.bootMs} ms, ` +
      `script ${result.commandMs} ms, whole guest run ${result.totalMs} ms; sections (guest ms): ${each}`);
  }, 360_000);

  afterAll(async () => {
    await h?.cleanup();
  });

  it('ran the whole script in the guest', () => {
    expect(result.timedOut, result.output.slice(-4000)).toBe(false);
    expect(result.status, result.output.slice(-4000)).toBe(0);
  });

  it('gives a container its limits in a cgroup namespace of its own', () => {
    expect(lines('limits')).toEqual([String(64 * MiB), '0', '50000 100000', '20', '0::/']);
  });

  it('makes the leaf /sys/fs/cgroup/berth/<id> with the limits, cpu.weight from --cpu-shares and cpuset.cpus, and removes it with the container', () => {
    expect(leaf).toMatch(/^\/sys\/fs\/cgroup\/berth\/[0-9a-f]{64}$/);
    expect(lines('leaf-files')).toEqual([String(64 * MiB), '0', '50000 100000', '20', String(weightOf512Shares), '1']);
    const procs = lines('leaf-procs');
    const pid = procs[0]?.replace('pid=', '');
    expect(pid).toMatch(/^\d+$/);
    expect(procs[1]).toBe(`procs=${pid}`);
    expect(lines('subtree')[0]?.split(' ')).toEqual(expect.arrayContaining(['cpu', 'memory', 'pids']));
    expect(section('leaf-rm').status).toBe(0);
    expect(lines('leaf-gone')).toEqual(['gone']);
  });

  it('kills a container beyond --memory: 137 and State.OOMKilled from memory.events; cp and rm of it then work', () => {
    expect(section('oom').status, section('oom').output).toBe(137);
    expect(lines('oom-state')).toEqual(['true 137']);
    expect(lines('oom-events')).toEqual(['oom_kill 1']);
    expect(section('oom-cp').status, section('oom-cp').output).toBe(0);
    expect(lines('oom-cp-file')[0]).toBe('root:x:0:');
    expect(section('oom-rm').status).toBe(0);
    expect(lines('oom-gone')).toEqual(['gone']);
  });

  it('freezes a paused container with cgroup.freeze and thaws it on unpause', () => {
    expect(section('pause').status, section('pause').output).toBe(0);
    const paused = lines('paused-files');
    expect(paused[0]).toBe('1');
    expect(paused).toContain('frozen 1');
    expect(lines('paused-ps').find((l) => l.startsWith('pz: '))).toMatch(/^pz: Up .* \(Paused\)$/);
    expect(section('unpause').status, section('unpause').output).toBe(0);
    const thawed = lines('unpaused-files');
    expect(thawed[0]).toBe('0');
    expect(thawed).toContain('frozen 0');
    expect(lines('unpaused-ps').find((l) => l.startsWith('pz: '))).toMatch(/^pz: Up (?!.*Paused)/);
  });

  it('changes memory.max of a running container on update -m, and keeps it over a restart', () => {
    expect(section('update').status, section('update').output).toBe(0);
    expect(lines('updated-files')[0]).toBe(String(128 * MiB));
    expect(section('restart').status, section('restart').output).toBe(0);
    expect(lines('restarted-files')).toEqual([String(128 * MiB), '3']);
  });

  it('puts an exec into the container\'s leaf', () => {
    // The guest mounts cgroup2 with nsdelegate, as systemd does on every unified host.
    expect(lines('exec-cgroup')).toEqual(['0::/', '4']);
  });

  it('reports in stats the pids and memory limit the cgroup files hold', () => {
    const [row, ...more] = lines('stats');
    expect(more).toEqual([]);
    const stats = JSON.parse(row ?? '') as { PIDs?: string; MemUsage?: string; Name?: string };
    const [pidsCurrent, memoryMax] = lines('stats-files');
    expect(stats.Name).toBe('pz');
    expect(stats.PIDs).toBe(pidsCurrent);
    expect(pidsCurrent).toBe('3');
    expect(memoryMax).toBe(String(128 * MiB));
    expect(stats.MemUsage).toMatch(/ \/ 128MiB$/);
    expect(lines('pz-gone')).toEqual(['gone']);
  });

  it('lets a container mknod a block device but not open it, with the BPF device program', () => {
    expect(lines('devices')).toEqual([
      'mknod-ok',
      'head: /tmp/sda: Operation not permitted',
      'sda-read=1',
      'null-read=0',
      'null-write=0',
    ]);
  });

  it('removes the leaf of a container with many processes on kill and on rm -f', () => {
    expect(Number(lines('many-pids')[0])).toBeGreaterThanOrEqual(41);
    expect(section('many-kill').status, section('many-kill').output).toBe(0);
    expect(lines('many-wait')).toEqual(['137']);
    expect(section('many-rm').status, section('many-rm').output).toBe(0);
    expect(lines('many-gone')).toEqual(['gone']);
    expect(Number(lines('many2-pids')[0])).toBeGreaterThanOrEqual(41);
    expect(section('many2-rm').status, section('many2-rm').output).toBe(0);
    expect(lines('many2-gone')).toEqual(['gone']);
  });

  it('leaves no container, cgroup leaf, mount or process behind', () => {
    expect(lines('final-ps')).toEqual([]);
    expect(lines('final-leaves')).toEqual([]);
    // grep exits 1 when no line names the store.
    expect(section('final-mounts')).toMatchObject({ status: 1, output: '' });
    expect(section('final-processes')).toMatchObject({ status: 1, output: '' });
  });
});
