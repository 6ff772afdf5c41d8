import { describe, expect, it } from 'vitest';
import { BerthError, InvalidArgumentError } from '../../../common/errors.js';
import { SchemaValidator, type ImageExecConfig, type RuntimeSpec } from '../../../oci/index.js';
import { allCapabilities, defaultCapabilities, defaultMaskedPaths, defaultReadonlyPaths } from '../../../runtime/defaults.js';
import { buildSpec, configVersion, type SpecInput } from '../../../runtime/spec.js';

const validator = await SchemaValidator.load();

const nginx: ImageExecConfig = {
  Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'NGINX_VERSION=1.27.0'],
  Entrypoint: ['/docker-entrypoint.sh'],
  Cmd: ['nginx', '-g', 'daemon off;'],
  WorkingDir: '/srv',
};
const root = { uid: 0, gid: 0, additionalGids: [0] };

function spec(overrides: Partial<SpecInput> = {}): RuntimeSpec {
  return buildSpec({ rootfs: '/run/berth/c1/rootfs', image: nginx, user: root, hostname: 'c1', ...overrides });
}

function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

function mount(s: RuntimeSpec, destination: string): string | undefined {
  return s.mounts?.find((m) => m.destination === destination)?.options?.join(',');
}

describe('buildSpec', () => {
  describe('the document', () => {
    it('validates against the runtime-spec config schema, plain and with every option', () => {
      expect(validator.validate('runtime-config', spec())).toBeUndefined();
      const full = spec({
        command: ['sh'], entrypoint: '', env: ['A=1'], workdir: '/tmp', tty: true, consoleSize: { height: 24, width: 80 },
        readOnly: true, capAdd: ['sys_admin'], capDrop: ['MKNOD'], noNewPrivileges: true,
        rlimits: [{ type: 'nofile', soft: 1024, hard: 4096 }],
        mounts: [{ type: 'bind', source: '/srv/data', destination: '/data', readOnly: true }, { type: 'tmpfs', destination: '/run', options: ['size=1m'] }],
        namespaces: ['mount', 'uts', 'pid', 'ipc', 'user', 'cgroup'], joinNamespaces: { network: '/run/berth/netns/c1' },
        uidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }], gidMappings: [{ containerID: 0, hostID: 100000, size: 65536 }],
        cgroupsPath: '/berth/c1', resources: { memory: { limit: 1 << 30 }, pids: { limit: 100 }, cpu: { shares: 512 } },
        sysctl: { 'net.ipv4.ip_unprivileged_port_start': '0' }, seccomp: { defaultAction: 'SCMP_ACT_ERRNO', syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }] },
        apparmorProfile: 'berth-default', oomScoreAdj: 500, annotations: { 'org.example': 'x' }, domainname: 'example.org', shmSize: 1 << 20,
      });
      expect(validator.validate('runtime-config', full)).toBeUndefined();
      expect(validator.validate('runtime-config', spec({ privileged: true }))).toBeUndefined();
    });

    it('states the spec version and the root filesystem', () => {
      const s = spec();
      expect(s.ociVersion).toBe(configVersion);
      expect(s.root).toEqual({ path: '/run/berth/c1/rootfs' });
      expect(spec({ readOnly: true }).root).toEqual({ path: '/run/berth/c1/rootfs', readonly: true });
    });

    it('passes annotations, the cgroups path, sysctls and limits through', () => {
      const s = spec({ annotations: { a: 'b' }, cgroupsPath: '/berth/c1', sysctl: { 'kernel.msgmax': '1' }, resources: { pids: { limit: 10 } } });
      expect(s.annotations).toEqual({ a: 'b' });
      expect(s.linux?.cgroupsPath).toBe('/berth/c1');
      expect(s.linux?.sysctl).toEqual({ 'kernel.msgmax': '1' });
      expect(s.linux?.resources?.pids).toEqual({ limit: 10 });
    });
  });

  describe('command', () => {
    it('runs the image\'s Entrypoint with its Cmd', () => {
      expect(spec().process?.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    });

    it('replaces the image\'s Cmd with the given command and keeps the Entrypoint', () => {
      expect(spec({ command: ['nginx', '-t'] }).process?.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-t']);
    });

    it('treats an empty command as none', () => {
      expect(spec({ command: [] }).process?.args).toEqual(['/docker-entrypoint.sh', 'nginx', '-g', 'daemon off;']);
    });

    it('replaces the Entrypoint with --entrypoint and drops the image\'s Cmd', () => {
      expect(spec({ entrypoint: '/bin/sh' }).process?.args).toEqual(['/bin/sh']);
      expect(spec({ entrypoint: '/bin/sh', command: ['-c', 'id'] }).process?.args).toEqual(['/bin/sh', '-c', 'id']);
    });

    it('clears the Entrypoint with --entrypoint ""', () => {
      expect(spec({ entrypoint: '', command: ['ls', '/'] }).process?.args).toEqual(['ls', '/']);
    });

    it('runs the Cmd alone when the image has no Entrypoint', () => {
      expect(spec({ image: { Cmd: ['sh'] } }).process?.args).toEqual(['sh']);
      expect(spec({ image: { Cmd: ['sh'], Entrypoint: null } }).process?.args).toEqual(['sh']);
    });

    it('refuses to run without a command', () => {
      const err = errorOf(() => spec({ image: {} }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe('No command specified: the image has no Entrypoint or Cmd');
      expect(err.hint).toBe('Give a command after the image name, or an --entrypoint');
      expect(errorOf(() => spec({ image: undefined })).message).toBe('No command specified: the image has no Entrypoint or Cmd');
      expect(errorOf(() => spec({ entrypoint: '' })).message).toBe('No command specified: --entrypoint "" cleared the image\'s Entrypoint and Cmd');
    });
  });

  describe('environment', () => {
    it('puts PATH and HOSTNAME first, the image\'s PATH replacing docker\'s default', () => {
      expect(spec({ image: { Cmd: ['sh'] } }).process?.env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=c1']);
      expect(spec({ image: { Cmd: ['sh'], Env: ['A=1', 'PATH=/opt/bin'] } }).process?.env).toEqual(['PATH=/opt/bin', 'HOSTNAME=c1', 'A=1']);
    });

    it('sets TERM=xterm with a tty', () => {
      expect(spec({ tty: true }).process?.env).toContain('TERM=xterm');
      expect(spec().process?.env?.some((e) => e.startsWith('TERM='))).toBe(false);
    });

    it('lets the user\'s values override the image\'s, and lists them before the image\'s', () => {
      const env = spec({ env: ['NGINX_VERSION=2', 'B=x=y', 'HOSTNAME=web', 'EMPTY='] }).process?.env;
      expect(env).toEqual([
        'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=web', 'NGINX_VERSION=2', 'B=x=y', 'EMPTY=',
      ]);
    });

    it('takes a bare name from the host environment, and unsets it when the host lacks it', () => {
      const env = spec({ env: ['HOME', 'NGINX_VERSION', 'TERM'], tty: true, hostEnv: { HOME: '/root' } }).process?.env;
      expect(env).toEqual(['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'HOSTNAME=c1', 'HOME=/root']);
    });

    it('keeps each name once, with its last value', () => {
      expect(spec({ env: ['A=1', 'B=2', 'A=3'] }).process?.env?.filter((e) => /^[AB]=/.test(e))).toEqual(['A=3', 'B=2']);
    });

    it('rejects a variable without a name', () => {
      const err = errorOf(() => spec({ env: ['=1'] }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe('Invalid environment variable "=1": the name is empty');
      expect(err.hint).toBe('Write it as NAME=VALUE');
    });
  });

  describe('working directory and user', () => {
    it('uses -w, else the image\'s WorkingDir, else /', () => {
      expect(spec({ workdir: '/app/' }).process?.cwd).toBe('/app');
      expect(spec().process?.cwd).toBe('/srv');
      expect(spec({ workdir: '' }).process?.cwd).toBe('/srv');
      expect(spec({ image: { Cmd: ['sh'] } }).process?.cwd).toBe('/');
      expect(spec({ workdir: '/a/../b//c' }).process?.cwd).toBe('/b/c');
    });

    it('rejects a relative working directory', () => {
      const err = errorOf(() => spec({ workdir: 'app' }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe('Invalid working directory "app": it must be an absolute path');
      expect(err.hint).toBe('Give a path that starts with "/", e.g. -w /app');
      expect(errorOf(() => spec({ image: { Cmd: ['sh'], WorkingDir: 'srv' } })).message).toBe('Invalid working directory "srv": it must be an absolute path');
    });

    it('runs as the resolved user', () => {
      expect(spec({ user: { uid: 1000, gid: 1000, additionalGids: [1000, 10] } }).process?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10] });
    });

    it('rejects ids above 2^31-1', () => {
      for (const [user, what] of [
        [{ uid: 2 ** 31, gid: 0, additionalGids: [] }, `uid ${2 ** 31}`],
        [{ uid: 0, gid: 2 ** 32 - 1, additionalGids: [] }, `gid ${2 ** 32 - 1}`],
        [{ uid: 0, gid: 0, additionalGids: [-1] }, 'additional gid -1'],
      ] as const) {
        const err = errorOf(() => spec({ user }));
        expect(err).toBeInstanceOf(InvalidArgumentError);
        expect(err.message).toBe(`Invalid ${what}: user and group ids must be from 0 to 2147483647`);
      }
    });
  });

  describe('hostname and namespaces', () => {
    it('creates docker\'s namespaces and sets the hostname in the new UTS namespace', () => {
      const s = spec({ domainname: 'example.org' });
      expect(s.linux?.namespaces).toEqual([{ type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'pid' }, { type: 'ipc' }, { type: 'cgroup' }]);
      expect(s.hostname).toBe('c1');
      expect(s.domainname).toBe('example.org');
    });

    it('joins a namespace by path, in place or appended', () => {
      expect(spec({ joinNamespaces: { network: '/run/berth/netns/c1' } }).linux?.namespaces?.[1]).toEqual({ type: 'network', path: '/run/berth/netns/c1' });
      const s = spec({ namespaces: ['mount', 'uts', 'pid'], joinNamespaces: { ipc: '/proc/42/ns/ipc', network: '/proc/42/ns/net' } });
      expect(s.linux?.namespaces).toEqual([
        { type: 'mount' }, { type: 'uts' }, { type: 'pid' }, { type: 'network', path: '/proc/42/ns/net' }, { type: 'ipc', path: '/proc/42/ns/ipc' },
      ]);
    });

    it('sets no hostname without a UTS namespace of its own, but keeps HOSTNAME', () => {
      const s = spec({ namespaces: ['mount', 'pid'] });
      expect(s.hostname).toBeUndefined();
      expect(s.process?.env).toContain('HOSTNAME=c1');
    });

    it('rejects a relative namespace path, a type listed twice, and a user namespace without mappings', () => {
      const relative = errorOf(() => spec({ joinNamespaces: { network: 'netns/c1' } }));
      expect(relative).toBeInstanceOf(InvalidArgumentError);
      expect(relative.message).toBe('Cannot join the network namespace at "netns/c1": the path must be absolute');
      expect(errorOf(() => spec({ namespaces: ['pid', 'pid'] })).message).toBe('Cannot create the pid namespace twice');
      expect(errorOf(() => spec({ namespaces: ['user'] })).message).toBe('Cannot create a user namespace without uid and gid mappings');
    });
  });

  describe('capabilities', () => {
    it('grants docker\'s defaults as bounding, effective and permitted, nothing inheritable or ambient', () => {
      expect(spec().process?.capabilities).toEqual({ bounding: defaultCapabilities, effective: defaultCapabilities, permitted: defaultCapabilities });
    });

    it('adds and drops with or without CAP_, in any case', () => {
      const caps = spec({ capAdd: ['net_admin', 'CAP_SYS_PTRACE', 'chown'], capDrop: ['cap_chown', 'Net_Raw'] }).process?.capabilities?.bounding;
      expect(caps).toEqual([...defaultCapabilities.filter((c) => c !== 'CAP_CHOWN' && c !== 'CAP_NET_RAW'), 'CAP_NET_ADMIN', 'CAP_SYS_PTRACE', 'CAP_CHOWN']);
    });

    it('adds every capability but the dropped ones with --cap-add ALL', () => {
      const caps = spec({ capAdd: ['ALL'], capDrop: ['sys_admin'] }).process?.capabilities?.bounding;
      expect(caps).toEqual(allCapabilities.filter((c) => c !== 'CAP_SYS_ADMIN'));
    });

    it('keeps only the added ones with --cap-drop ALL', () => {
      expect(spec({ capDrop: ['all'], capAdd: ['kill', 'KILL'] }).process?.capabilities?.bounding).toEqual(['CAP_KILL']);
      expect(spec({ capDrop: ['ALL'] }).process?.capabilities?.bounding).toEqual([]);
    });

    it('grants every capability the host can when privileged', () => {
      expect(spec({ privileged: true, capDrop: ['ALL'] }).process?.capabilities?.bounding).toEqual(allCapabilities);
      expect(spec({ privileged: true, hostCapabilities: ['CAP_KILL'] }).process?.capabilities?.effective).toEqual(['CAP_KILL']);
    });

    it('rejects a capability Linux does not have', () => {
      const err = errorOf(() => spec({ capAdd: ['NET_ADMIM'] }));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe('Cannot add capability "NET_ADMIM": Linux has no such capability');
      expect(err.hint).toBe('Use a name from capabilities(7), such as NET_ADMIN or CAP_NET_ADMIN, or ALL');
      expect(errorOf(() => spec({ capDrop: ['CAP_FOO'] })).message).toBe('Cannot drop capability "CAP_FOO": Linux has no such capability');
    });

    it('rejects adding a capability the host cannot grant', () => {
      const err = errorOf(() => spec({ capAdd: ['sys_admin'], hostCapabilities: defaultCapabilities }));
      expect(err.message).toBe('Cannot add capability "CAP_SYS_ADMIN": this host cannot grant it');
    });
  });

  describe('privileges and rlimits', () => {
    it('sets no_new_privs, the OOM score, AppArmor and the console size only when asked', () => {
      const plain = spec().process;
      expect(plain?.noNewPrivileges).toBeUndefined();
      expect(plain?.oomScoreAdj).toBe(0);
      expect(plain?.terminal).toBeUndefined();
      const p = spec({ noNewPrivileges: true, oomScoreAdj: -500, apparmorProfile: 'docker-default', tty: true, consoleSize: { height: 1, width: 2 } }).process;
      expect(p).toMatchObject({ noNewPrivileges: true, oomScoreAdj: -500, apparmorProfile: 'docker-default', terminal: true, consoleSize: { height: 1, width: 2 } });
      expect(spec({ consoleSize: { height: 1, width: 2 } }).process?.consoleSize).toBeUndefined();
      expect(spec({ apparmorProfile: 'docker-default', privileged: true }).process?.apparmorProfile).toBeUndefined();
      expect(errorOf(() => spec({ oomScoreAdj: 1001 })).message).toBe('Invalid OOM score adjustment 1001: it must be an integer from -1000 to 1000');
    });

    it('turns ulimit names into RLIMIT_ types, the last of a type winning', () => {
      const rlimits = spec({ rlimits: [
        { type: 'nofile', soft: 1, hard: 2 }, { type: 'RLIMIT_NPROC', soft: 3, hard: 3 }, { type: 'Core', soft: 0, hard: 0 }, { type: 'NOFILE', soft: 10, hard: 20 },
      ] }).process?.rlimits;
      expect(rlimits).toEqual([
        { type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }, { type: 'RLIMIT_NPROC', soft: 3, hard: 3 }, { type: 'RLIMIT_CORE', soft: 0, hard: 0 },
      ]);
      expect(spec().process?.rlimits).toBeUndefined();
    });

    it('rejects an unknown ulimit, a soft limit above the hard one, and negative limits', () => {
      const unknown = errorOf(() => spec({ rlimits: [{ type: 'nofiles', soft: 1, hard: 1 }] }));
      expect(unknown).toBeInstanceOf(InvalidArgumentError);
      expect(unknown.message).toBe('Cannot set ulimit "nofiles": Linux has no such resource limit');
      expect(unknown.hint).toMatch(/^Use one of as, core, cpu, .*, nofile, .*stack$/);
      const inverted = errorOf(() => spec({ rlimits: [{ type: 'nofile', soft: 2048, hard: 1024 }] }));
      expect(inverted.message).toBe('Cannot set ulimit "nofile": the soft limit 2048 is above the hard limit 1024');
      expect(inverted.hint).toBe('Give soft:hard with soft <= hard, e.g. --ulimit nofile=1024:1024');
      const unlimited = errorOf(() => spec({ rlimits: [{ type: 'memlock', soft: -1, hard: -1 }] }));
      expect(unlimited.message).toBe('Cannot set ulimit "memlock": -1 is not a whole number from 0 to 9007199254740991');
    });
  });

  describe('mounts', () => {
    it('mounts docker\'s defaults in order', () => {
      expect(spec().mounts?.map((m) => m.destination)).toEqual(['/proc', '/dev', '/dev/pts', '/sys', '/sys/fs/cgroup', '/dev/mqueue', '/dev/shm']);
      expect(mount(spec(), '/dev/shm')).toBe('nosuid,noexec,nodev,mode=1777,size=67108864');
      expect(mount(spec({ shmSize: 1 << 20 }), '/dev/shm')).toBe('nosuid,noexec,nodev,mode=1777,size=1048576');
    });

    it('adds bind mounts after the defaults, parents before children', () => {
      const s = spec({ mounts: [
        { type: 'bind', source: '/srv/logs', destination: '/data/logs' },
        { type: 'bind', source: '/srv/data', destination: '/data/', readOnly: true },
      ] });
      expect(s.mounts?.slice(-2)).toEqual([
        { destination: '/data', type: 'bind', source: '/srv/data', options: ['rbind', 'ro', 'rprivate'] },
        { destination: '/data/logs', type: 'bind', source: '/srv/logs', options: ['rbind', 'rprivate'] },
      ]);
    });

    it('gives tmpfs mounts noexec,nosuid,nodev unless the user says otherwise', () => {
      const s = spec({ mounts: [{ type: 'tmpfs', destination: '/run' }, { type: 'tmpfs', destination: '/tmp', options: ['exec', 'size=1m', 'mode=1777', 'size=2m'] }] });
      expect(mount(s, '/run')).toBe('noexec,nosuid,nodev,rprivate');
      expect(mount(s, '/tmp')).toBe('nosuid,nodev,rprivate,exec,mode=1777,size=2m');
    });

    it('lets a user mount replace a default one, and a user /dev replace everything under it', () => {
      const shm = spec({ mounts: [{ type: 'bind', source: '/dev/shm', destination: '/dev/shm' }] });
      expect(shm.mounts?.filter((m) => m.destination === '/dev/shm')).toEqual([
        { destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] },
      ]);
      const dev = spec({ mounts: [{ type: 'bind', source: '/dev', destination: '/dev' }] });
      expect(dev.mounts?.map((m) => m.destination)).toEqual(['/proc', '/sys', '/sys/fs/cgroup', '/dev']);
    });

    it('makes the default mounts read-only with --read-only, except /proc, /dev and its children', () => {
      const s = spec({ readOnly: true, mounts: [{ type: 'tmpfs', destination: '/tmp' }] });
      expect(mount(s, '/proc')).toBe('nosuid,noexec,nodev');
      expect(mount(s, '/dev/shm')).not.toContain('ro');
      expect(mount(s, '/sys')).toBe('nosuid,noexec,nodev,ro');
      expect(mount(s, '/tmp')).toBe('noexec,nosuid,nodev,rprivate');
    });

    it('makes /sys and the cgroup filesystem writable when privileged', () => {
      const s = spec({ privileged: true, readOnly: true });
      expect(mount(s, '/sys')).toBe('nosuid,noexec,nodev');
      expect(mount(s, '/sys/fs/cgroup')).toBe('nosuid,noexec,nodev');
    });

    it('rejects relative or root destinations, relative sources and duplicates', () => {
      const relative = errorOf(() => spec({ mounts: [{ type: 'tmpfs', destination: 'data' }] }));
      expect(relative).toBeInstanceOf(InvalidArgumentError);
      expect(relative.message).toBe('Invalid mount destination "data": it must be an absolute path');
      expect(relative.hint).toBe('Give the path in the container from "/", e.g. "/data"');
      expect(errorOf(() => spec({ mounts: [{ type: 'bind', source: '/x', destination: '/.' }] })).message)
        .toBe('Invalid mount destination "/": a mount cannot replace the container\'s root');
      expect(errorOf(() => spec({ mounts: [{ type: 'bind', source: 'x', destination: '/x' }] })).message)
        .toBe('Invalid bind mount source "x": it must be an absolute path on the host');
      expect(errorOf(() => spec({ mounts: [{ type: 'tmpfs', destination: '/x' }, { type: 'bind', source: '/x', destination: '/x/' }] })).message)
        .toBe('Duplicate mount point "/x"');
      expect(errorOf(() => spec({ shmSize: 0 })).message).toBe('Invalid shm size 0: it must be a positive number of bytes');
    });
  });

  describe('confinement', () => {
    it('masks and protects docker\'s paths, and allows only the standard devices', () => {
      const linux = spec().linux;
      expect(linux?.maskedPaths).toEqual(defaultMaskedPaths);
      expect(linux?.readonlyPaths).toEqual(defaultReadonlyPaths);
      expect(linux?.resources?.devices?.[0]).toEqual({ allow: false, access: 'rwm' });
      expect(linux?.resources?.devices).toHaveLength(8);
    });

    it('masks nothing, allows every device and drops seccomp when privileged', () => {
      const linux = spec({ privileged: true, seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, resources: { devices: [{ allow: false, type: 'c', major: 10, minor: 200, access: 'rwm' }] } }).linux;
      expect(linux?.maskedPaths).toBeUndefined();
      expect(linux?.readonlyPaths).toBeUndefined();
      expect(linux?.seccomp).toBeUndefined();
      expect(linux?.resources?.devices).toEqual([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 10, minor: 200, access: 'rwm' }]);
    });

    it('keeps a seccomp profile and explicit path lists', () => {
      const linux = spec({ seccomp: { defaultAction: 'SCMP_ACT_ERRNO' }, maskedPaths: ['/proc/kcore'], readonlyPaths: [] }).linux;
      expect(linux?.seccomp).toEqual({ defaultAction: 'SCMP_ACT_ERRNO' });
      expect(linux?.maskedPaths).toEqual(['/proc/kcore']);
      expect(linux?.readonlyPaths).toBeUndefined();
      expect(spec({ privileged: true, maskedPaths: ['/proc/kcore'] }).linux?.maskedPaths).toEqual(['/proc/kcore']);
    });
  });
});
