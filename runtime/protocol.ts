/**
 * The wire format between berth and its native programs, mirrored from
 * runtime/native/proto.h (change both together and bump {@link planVersion}): the binary
 * plan berth-helper executes, and the JSON lines berth-helper and berth-monitor reply with.
 */

/** proto.h BERTH_PLAN_VERSION. */
export const planVersion = 5;
const planMagic = 'BPLN';
/** proto.h BERTH_PLAN_MAX. */
export const planMaxBytes = 4 << 20;

/** proto.h BERTH_ENV_PLAN_FD and BERTH_ENV_REPLY_FD. */
export const planFdEnv = '_BERTH_PLAN_FD';
export const replyFdEnv = '_BERTH_REPLY_FD';

/** proto.h enum plan_tag. */
export const PlanTag = {
  end: 0,
  nsNew: 1,
  nsJoin: 2,
  cgroupTasks: 3,
  rootfs: 4,
  overlay: 5,
  mount: 6,
  device: 7,
  symlink: 8,
  mask: 9,
  readonly: 10,
  hostname: 11,
  rlimit: 12,
  user: 13,
  caps: 14,
  noNewPrivs: 15,
  cwd: 16,
  env: 17,
  arg: 18,
  execFifo: 19,
  rootReadonly: 20,
  tty: 21,
  propagation: 22,
  sysctl: 23,
  oomScoreAdj: 24,
  domainname: 25,
  umask: 26,
  init: 27,
  execWait: 28,
  consoleSocket: 29,
  cgroup2: 30,
  /** Hold the rootfs of a container that is not running, for `berth cp` (proto.h PLAN_HOLD). */
  hold: 31,
  deviceFilter: 32,
  deviceRule: 33,
  /** exec without a terminal: pipes for the process's stdio, relayed by the helper (proto.h PLAN_EXEC_PIPES). */
  execPipes: 34,
} as const;
export type PlanTagName = keyof typeof PlanTag;

/** proto.h BERTH_EXEC_PIPE_* flags of the execPipes record. */
export const ExecPipeFlag = { stdin: 1 } as const;

/** proto.h BERTH_DEVICE_FILTER_* flags of the deviceFilter record. */
export const DeviceFilterFlag = { optional: 1 } as const;

/** linux/bpf.h BPF_DEVCG_DEV_* and BPF_DEVCG_ACC_*, as the deviceRule record carries them. */
export const BpfDevice = { block: 1, char: 2 } as const;
export const BpfAccess = { mknod: 1, read: 2, write: 4 } as const;

/** proto.h BERTH_HELPER_FAILED: the helper's exit status when a step failed. */
export const helperFailedStatus = 125;

/** Builds a plan, record by record, in execution order. */
export class PlanWriter {
  readonly #parts: Buffer[] = [];
  #size = 0;

  constructor() {
    const header = Buffer.alloc(8);
    header.write(planMagic, 0, 'latin1');
    header.writeUInt32LE(planVersion, 4);
    this.#push(header);
  }

  #push(b: Buffer): void {
    this.#parts.push(b);
    this.#size += b.length;
    if (this.#size > planMaxBytes) throw new RangeError(`The container plan is larger than ${planMaxBytes} bytes`);
  }

  /** A record of raw payload parts. */
  record(tag: PlanTagName, ...payload: readonly Buffer[]): this {
    const body = Buffer.concat(payload);
    const head = Buffer.alloc(8);
    head.writeUInt16LE(PlanTag[tag], 0);
    head.writeUInt32LE(body.length, 4);
    this.#push(head);
    this.#push(body);
    return this;
  }

  /** A record whose payload is strings separated by NUL bytes (none may contain one). */
  strings(tag: PlanTagName, ...values: readonly string[]): this {
    for (const v of values) {
      if (v.includes('\0')) throw new RangeError(`A ${tag} value contains a NUL byte: ${JSON.stringify(v)}`);
    }
    return this.record(tag, Buffer.from(values.join('\0'), 'utf8'));
  }

  /** The finished plan, with its end record. */
  finish(): Buffer {
    this.record('end');
    return Buffer.concat(this.#parts);
  }
}

/** Little-endian integers for record payloads. */
export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}
export function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32LE(n, 0);
  return b;
}
export function u64(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)), 0);
  return b;
}

/** A reply line from the helper (forwarded by the monitor). */
export type HelperReply =
  | { readonly type: 'created'; readonly pid: number }
  | { readonly type: 'error'; readonly stage: string; readonly errno: number; readonly message: string };

/** Parses one reply line; throws on anything else. */
export function parseReply(line: string): HelperReply {
  const v: unknown = JSON.parse(line);
  if (v !== null && typeof v === 'object') {
    const r = v as Record<string, unknown>;
    if (r['type'] === 'created' && typeof r['pid'] === 'number' && Number.isInteger(r['pid']) && r['pid'] > 0) {
      return { type: 'created', pid: r['pid'] };
    }
    if (r['type'] === 'error' && typeof r['stage'] === 'string' && typeof r['errno'] === 'number' && typeof r['message'] === 'string') {
      return { type: 'error', stage: r['stage'], errno: r['errno'], message: r['message'] };
    }
  }
  throw new SyntaxError(`Unexpected reply from berth-helper: ${line.slice(0, 200)}`);
}

/** The monitor's exit.json. */
export interface ExitRecord {
  readonly exitCode: number;
  /** The signal that killed the container's process, 0 if it exited. */
  readonly signal: number;
  readonly finishedAt: string;
  /** The kernel's OOM killer killed a process of the container while it ran. */
  readonly oomKilled: boolean;
}

export function parseExitRecord(text: string): ExitRecord {
  const v: unknown = JSON.parse(text);
  if (v !== null && typeof v === 'object') {
    const r = v as Record<string, unknown>;
    if (typeof r['exitCode'] === 'number' && typeof r['signal'] === 'number' && typeof r['finishedAt'] === 'string') {
      return { exitCode: r['exitCode'], signal: r['signal'], finishedAt: r['finishedAt'], oomKilled: r['oomKilled'] === true };
    }
  }
  throw new SyntaxError('exit.json is not an exit record');
}
