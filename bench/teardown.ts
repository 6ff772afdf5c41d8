/**
 * Undo steps for the pull benchmark, run last-in first-out at the end, also after an error
 * or Ctrl-C, plus the mount check that makes sure nothing is left mounted under the
 * harness's directories.
 */
import { readFile, rm } from 'node:fs/promises';
import { check } from './proc.js';

/**
 * A stack of undo steps. Lifecycle: `add` while setting up; `run` once at the end runs every
 * step even when some fail, newest first, and reports the failures.
 */
export class Teardown {
  readonly #steps: { readonly label: string; readonly fn: () => Promise<void> }[] = [];
  #ran = false;

  /** Registers `fn` to run at the end; `label` names it in failure reports. */
  add(label: string, fn: () => Promise<void>): void {
    this.#steps.push({ label, fn });
  }

  /** Runs every step newest first; returns one line per step that failed. Runs only once. */
  async run(): Promise<string[]> {
    if (this.#ran) return [];
    this.#ran = true;
    const failures: string[] = [];
    for (const step of this.#steps.reverse()) {
      try {
        await step.fn();
      } catch (err) {
        failures.push(`${step.label}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    return failures;
  }
}

/** Mount points at or under `dir`, deepest first, from /proc/self/mountinfo. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const points: string[] = [];
  for (const line of text.split('\n')) {
    // proc(5): field 5 is the mount point, with space, tab, newline and backslash as octal escapes.
    const field = line.split(' ')[4];
    if (field === undefined) continue;
    const point = field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
    if (point === dir || point.startsWith(`${dir}/`)) points.push(point);
  }
  return points.sort((a, b) => b.length - a.length);
}

/** Unmounts everything under `dir` (lazily if a plain umount fails); returns what was unmounted. */
export async function unmountUnder(dir: string): Promise<string[]> {
  const points = await mountsUnder(dir);
  for (const point of points) {
    try {
      await check({ file: 'umount', args: [point] });
    } catch {
      await check({ file: 'umount', args: ['-l', point] });
    }
  }
  return points;
}

/** Unmounts everything under `dir`, then removes it; throws if a mount survives. */
export async function removeTree(dir: string): Promise<void> {
  await unmountUnder(dir);
  const left = await mountsUnder(dir);
  if (left.length > 0) throw new Error(`Cannot remove "${dir}": still mounted: ${left.join(', ')}`);
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
