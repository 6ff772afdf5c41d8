/**
 * One undo stack per operation: each phase that makes something registers how to take it
 * back, right after it made it, so that a failure at any phase undoes exactly what was
 * done, newest first. A step that fails to undo does not stop the others: its failure is
 * reported as a warning (crun's crun_error_write_warning_and_release), never dropped.
 */
import { messageOf } from './context.js';

interface Step {
  readonly what: string;
  readonly undo: () => Promise<void> | void;
}

export class UndoStack {
  readonly #steps: Step[] = [];

  /** Registers how to undo `what` (named in the warning if that fails). */
  push(what: string, undo: () => Promise<void> | void): void {
    this.#steps.push({ what, undo });
  }

  /** Forgets every step: the operation succeeded. */
  commit(): void {
    this.#steps.length = 0;
  }

  /** Undoes every step, newest first; returns the failures as warnings. */
  async unwind(): Promise<string[]> {
    const warnings: string[] = [];
    for (let step = this.#steps.pop(); step !== undefined; step = this.#steps.pop()) {
      try {
        await step.undo();
      } catch (err) {
        warnings.push(`Could not undo ${step.what}: ${messageOf(err)}`);
      }
    }
    return warnings;
  }

  /**
   * Runs `fn` with this stack; when it throws, unwinds and rethrows its error, the undo
   * failures going to `warn`.
   */
  async run<T>(fn: (undo: UndoStack) => Promise<T>, warn: (message: string) => void): Promise<T> {
    try {
      const result = await fn(this);
      this.commit();
      return result;
    } catch (err) {
      for (const w of await this.unwind()) warn(w);
      throw err;
    }
  }
}
