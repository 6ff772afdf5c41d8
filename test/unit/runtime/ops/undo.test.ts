import { describe, expect, it } from 'vitest';
import { UndoStack } from '../../../../runtime/ops/undo.js';

describe('UndoStack', () => {
  it('undoes what was done, newest first, when the operation fails, and rethrows its error', async () => {
    const undone: string[] = [];
    const warnings: string[] = [];
    const stack = new UndoStack();
    await expect(stack.run(async (undo) => {
      undo.push('the record', () => void undone.push('record'));
      undo.push('the directory', async () => void undone.push('directory'));
      throw new Error('launch failed');
    }, (w) => warnings.push(w))).rejects.toThrow('launch failed');
    expect(undone).toEqual(['directory', 'record']);
    expect(warnings).toEqual([]);
  });

  it('a step that fails to undo does not stop the others, and becomes a warning naming it', async () => {
    const undone: string[] = [];
    const warnings: string[] = [];
    await expect(new UndoStack().run(async (undo) => {
      undo.push('the record', () => void undone.push('record'));
      undo.push('the cgroup', () => {
        throw new Error('EBUSY');
      });
      throw new Error('failed');
    }, (w) => warnings.push(w))).rejects.toThrow('failed');
    expect(undone).toEqual(['record']);
    expect(warnings).toEqual(['Could not undo the cgroup: EBUSY']);
  });

  it('undoes nothing when the operation succeeds', async () => {
    const undone: string[] = [];
    const stack = new UndoStack();
    expect(await stack.run(async (undo) => {
      undo.push('x', () => void undone.push('x'));
      return 42;
    }, () => undefined)).toBe(42);
    expect(await stack.unwind()).toEqual([]);
    expect(undone).toEqual([]);
  });
});
