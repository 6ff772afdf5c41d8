/**
 * The extension point after buildSpec: small functions that adjust a container's spec for
 * one caller (containerd's SpecOpts, pkg/oci/spec_opts.go), so that buildSpec stays pure
 * and docker-faithful and no caller adds an `if` to its input. A build step, the VM
 * backend and the API server pass their own; each gets the spec and returns a new one.
 */
import type { RuntimeSpec } from '../oci/index.js';

/** What an adjuster may want to know of the container. */
export interface SpecAdjustContext {
  readonly id: string;
  /** The container's directory (the bundle). */
  readonly dir: string;
}

/** Returns the spec adjusted; must not change the one it is given. */
export type SpecAdjuster = (spec: RuntimeSpec, context: SpecAdjustContext) => RuntimeSpec;

/** Applies `adjusters` in order. */
export function adjustSpec(spec: RuntimeSpec, adjusters: readonly SpecAdjuster[], context: SpecAdjustContext): RuntimeSpec {
  return adjusters.reduce((s, adjust) => adjust(s, context), spec);
}

/** An adjuster that sets environment variables of the process (KEY=VALUE), replacing by key. */
export function withEnv(entries: readonly string[]): SpecAdjuster {
  return (spec) => {
    if (spec.process === undefined) return spec;
    const key = (e: string): string => e.split('=', 1)[0] ?? e;
    const keys = new Set(entries.map(key));
    return { ...spec, process: { ...spec.process, env: [...(spec.process.env ?? []).filter((e) => !keys.has(key(e))), ...entries] } };
  };
}
