/**
 * Running the built berth CLI inside a throwaway QEMU guest (test/helpers/qemu.ts), where
 * cgroup v2 alone is mounted at /sys/fs/cgroup. {@link berthGuestInput} lists what the
 * guest needs of this checkout, under {@link guestCheckout}: the bundle, the native programs
 * and addons, the launcher's script. Not at their own paths: a checkout under /tmp (a CI
 * clone) would be hidden by the guest's tmpfs there. A store made on the host (setUpContainers) goes in
 * as a tar archive, {@link guestStoreArchive}, which {@link berthGuestPrelude} unpacks at the
 * store's own path: the guest's init mounts a tmpfs on /tmp, where the host's temp dirs are,
 * and the initramfs writer copies every hard link whole (an unpacked busybox layer is a
 * few hundred links to one 2 MB file).
 *
 * The guest script prints sections that {@link parseSections} reads back:
 * `#@begin NAME`, what the commands printed, `#@end NAME status=N ms=N`.
 */
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { repoRoot } from './berth.js';
import { runText } from './exec.js';
import type { GuestFile, GuestOptions } from './qemu.js';

/** Where the store's archive is put into the initramfs. */
export const guestStoreArchive = '/stage/store.tar';

/** Where the checkout's files go in the guest. */
export const guestCheckout = '/berth-checkout';

/** The launcher berth's users run (bin/launcher.c); it execs `node` on bin/berth beside it. */
export const guestBerth = join(guestCheckout, 'dist', 'native', 'berth');

/** The native addon common/sys/fsx.ts loads, found by walking up from dist/. */
const fsxAddon = join(repoRoot, 'common', 'sys', 'native', 'build', 'Release', 'berth_fsx.node');

/** What runInGuest (qemu.ts) gets to run berth: files, and executables whose libraries go too. */
export type BerthGuestInput = Required<Pick<GuestOptions, 'files' | 'binaries'>>;

/**
 * The files of this checkout that `dist/native/berth` needs, under {@link guestCheckout},
 * and the store `root` archived (in `workDir`) to {@link guestStoreArchive}. The Node
 * addons also go as `binaries`, for the shared libraries they link (berth_fsx.node needs
 * libisal).
 * dist/berth.cjs.cache is left out (bin/berth compiles the bundle without it), and so are
 * the source maps and tsc's output. Nothing may be using the store while it is archived.
 */
export async function berthGuestInput(root: string, workDir: string): Promise<BerthGuestInput> {
  const dist = join(repoRoot, 'dist');
  const needed = [
    join(dist, 'berth.cjs'), join(dist, 'unpack-worker.mjs'),
    ...(await readdir(join(dist, 'native'))).map((name) => join(dist, 'native', name)),
    join(repoRoot, 'bin', 'berth'), join(repoRoot, 'bin', 'package.json'), join(repoRoot, 'package.json'), fsxAddon,
  ];
  for (const path of needed) {
    if (!existsSync(path)) throw new Error(`"${path}" is missing: build berth first ("npm install && npm run build")`);
  }
  const binaries = needed.filter((path) => path.endsWith('.node'));
  const files: GuestFile[] = needed.map((path) => ({ hostPath: path, guestPath: join(guestCheckout, relative(repoRoot, path)) }));
  const archive = join(workDir, 'guest-store.tar');
  await runText('tar', ['-C', dirname(root), '-cf', archive, basename(root)]);
  files.push({ hostPath: archive, guestPath: guestStoreArchive });
  return { files, binaries };
}

/** Quotes a word for sh. */
export function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/**
 * The start of a guest script: unpacks the store at `root`, defines `B` (berth on that store)
 * and `rec NAME COMMAND...`, which prints a section with the command's output and status.
 */
export function berthGuestPrelude(root: string): string {
  return `
ROOT=${shQuote(root)}
mkdir -p "$(dirname "$ROOT")" && tar -xf ${guestStoreArchive} -C "$(dirname "$ROOT")" && rm ${guestStoreArchive} ||
  { echo "cannot unpack the store at $ROOT"; exit 99; }
B() { ${shQuote(guestBerth)} --root "$ROOT" "$@"; }
ms() { awk '{ printf "%d\\n", $1 * 1000 }' /proc/uptime; }
rec() {
  _name=$1; shift; _t=$(ms); echo "#@begin $_name"
  "$@" 2>&1; _st=$?
  echo; echo "#@end $_name status=$_st ms=$(($(ms) - _t))"; return $_st
}
`;
}

/** One section of the guest's output. */
export interface Section {
  readonly status: number;
  /** The section's run time by the guest's clock. */
  readonly ms: number;
  readonly output: string;
}

/** The sections of a guest script's output by name; a later section of the same name wins. */
export function parseSections(output: string): Map<string, Section> {
  const sections = new Map<string, Section>();
  // rec() ends the output with a newline of its own before the end line.
  const re = /^#@begin (\S+)\n([\s\S]*?)\n#@end \1 status=(\d+) ms=(\d+)$/gm;
  for (const m of output.matchAll(re)) sections.set(m[1] ?? '', { status: Number(m[3]), ms: Number(m[4]), output: m[2] ?? '' });
  return sections;
}
