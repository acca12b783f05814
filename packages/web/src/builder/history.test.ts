import { describe, expect, it } from 'vitest';
import { canRedo, canUndo, createHistory, historyKey, push, redo, reset, undo } from './history.js';

describe('undo stack', () => {
  it('undoes and redoes in order', () => {
    let h = createHistory('a');
    h = push(h, 'b');
    h = push(h, 'c');
    expect(h.present).toBe('c');
    h = undo(h);
    expect(h.present).toBe('b');
    h = undo(h);
    expect(h.present).toBe('a');
    expect(canUndo(h)).toBe(false);
    h = redo(h);
    h = redo(h);
    expect(h.present).toBe('c');
    expect(canRedo(h)).toBe(false);
  });

  it('changes nothing when there is nothing to undo or redo', () => {
    const h = createHistory(1);
    expect(undo(h)).toBe(h);
    expect(redo(h)).toBe(h);
  });

  it('drops the redo branch on a new change', () => {
    let h = push(push(createHistory('a'), 'b'), 'c');
    h = undo(h);
    h = push(h, 'd');
    expect(h.present).toBe('d');
    expect(canRedo(h)).toBe(false);
    expect(undo(h).present).toBe('b');
  });

  it('ignores a push of the present itself', () => {
    const h = createHistory({ x: 1 });
    expect(push(h, h.present)).toBe(h);
  });

  it('merges pushes with the same coalesce key into one step', () => {
    let h = createHistory('');
    h = push(h, 'Q', 'name:q');
    h = push(h, 'Qu', 'name:q');
    h = push(h, 'Qua', 'name:q');
    h = push(h, 'Qua!', 'color:q');
    expect(h.past).toEqual(['', 'Qua']);
    expect(undo(h).present).toBe('Qua');
    expect(undo(undo(h)).present).toBe('');
  });

  it('does not merge after an undo', () => {
    let h = push(push(createHistory('a'), 'b', 'k'), 'c', 'k');
    h = undo(h);
    h = push(h, 'x', 'k');
    expect(h.past).toEqual(['a']);
    expect(h.present).toBe('x');
  });

  it('keeps at most `limit` undo steps', () => {
    let h = createHistory(0, 3);
    for (let i = 1; i <= 10; i++) h = push(h, i);
    expect(h.past).toEqual([7, 8, 9]);
  });

  it('starts over on reset', () => {
    const h = reset(push(createHistory('a'), 'b'), 'z');
    expect(h.present).toBe('z');
    expect(canUndo(h)).toBe(false);
  });
});

describe('historyKey', () => {
  const k = (key: string, mods: Partial<{ ctrlKey: boolean; metaKey: boolean; shiftKey: boolean }> = {}) =>
    historyKey({ key, ctrlKey: false, metaKey: false, shiftKey: false, ...mods });
  it('maps Ctrl+Z, Ctrl+Shift+Z, Ctrl+Y and ⌘ variants', () => {
    expect(k('z', { ctrlKey: true })).toBe('undo');
    expect(k('Z', { ctrlKey: true, shiftKey: true })).toBe('redo');
    expect(k('y', { ctrlKey: true })).toBe('redo');
    expect(k('z', { metaKey: true })).toBe('undo');
    expect(k('z')).toBeNull();
    expect(k('a', { ctrlKey: true })).toBeNull();
  });
});
