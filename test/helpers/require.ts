/**
 * Gates for integration tests (STYLE.md §6). Outside CI a missing prerequisite skips the
 * file with the reason; with BERTH_INTEGRATION=1 or CI=true it fails instead, so CI can
 * never pass by skipping.
 */
import { execFileSync } from 'node:child_process';

/** True when integration prerequisites must be met (CI or BERTH_INTEGRATION=1). */
export function integrationRequired(): boolean {
  return process.env['CI'] === 'true' || process.env['BERTH_INTEGRATION'] === '1';
}

/**
 * Returns undefined when every prerequisite holds, else the reason to skip. Throws when
 * {@link integrationRequired} and a prerequisite is missing.
 */
export function checkPrerequisites(options: { root?: boolean; commands?: readonly string[] }): string | undefined {
  const missing: string[] = [];
  if (options.root === true && process.getuid?.() !== 0) missing.push('root');
  for (const command of options.commands ?? []) {
    try {
      execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    } catch {
      missing.push(`the "${command}" command`);
    }
  }
  return skipReason(missing);
}

/**
 * The reason to skip for prerequisites found `missing` (none: undefined); throws instead
 * when {@link integrationRequired}.
 */
export function skipReason(missing: readonly string[]): string | undefined {
  if (missing.length === 0) return undefined;
  const reason = `needs ${missing.join(', ')}`;
  if (integrationRequired()) throw new Error(`Integration prerequisite missing under CI: ${reason} (run "scripts/setup.sh")`);
  return reason;
}

/**
 * A gate for the root-only part of a unit file (whiteout devices, trusted.* xattrs, chown):
 * `reason` skips it where root is missing, `title(t)` says so in its name, and `check`
 * (its beforeAll) fails it where {@link integrationRequired} says root must be there.
 */
export function rootGate(): { readonly reason: string | undefined; title(t: string): string; check(): void } {
  let reason: string | undefined;
  let error: unknown;
  try {
    reason = checkPrerequisites({ root: true });
  } catch (err) {
    error = err;
  }
  return {
    reason,
    title: (t) => (reason === undefined ? t : `${t} (skipped: ${reason})`),
    check: () => {
      if (error !== undefined) throw error;
    },
  };
}
