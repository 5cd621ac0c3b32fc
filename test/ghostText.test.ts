// Ghost text's state: a suggestion is shown until the next edit or cursor move, accepting inserts it at its place with the cursor after it.
import { describe, expect, it } from 'vitest';
import { EditorState } from '@codemirror/state';
import { acceptGhost, ghostField, setGhost } from '../src/app/editor/ghostText.ts';
import { promptBefore, PROMPT_CHARS } from '../src/app/editor/EditorPanel.tsx';

const DOC = 'def add(a, b):\n    return ';

function withGhost(text: string): EditorState {
  const state = EditorState.create({ doc: DOC, selection: { anchor: DOC.length }, extensions: [ghostField] });
  return state.update({ effects: setGhost.of({ pos: DOC.length, text }) }).state;
}

describe('ghost text', () => {
  it('accepting inserts the suggestion at its place, moves the cursor after it and takes the suggestion away', () => {
    const state = withGhost('a + b');
    expect(state.field(ghostField)).toEqual({ pos: DOC.length, text: 'a + b' });
    const accepted = state.update(acceptGhost(state)!).state;
    expect(accepted.doc.toString()).toBe(`${DOC}a + b`);
    expect(accepted.selection.main.head).toBe(accepted.doc.length);
    expect(accepted.field(ghostField)).toBeNull();
    expect(acceptGhost(accepted)).toBeNull();
  });

  it('goes away on the next keystroke or cursor move, and dismissing leaves the document as it was', () => {
    const typed = withGhost('a + b');
    expect(typed.update({ changes: { from: DOC.length, insert: 'a' } }).state.field(ghostField)).toBeNull();
    expect(typed.update({ selection: { anchor: 0 } }).state.field(ghostField)).toBeNull();
    const dismissed = typed.update({ effects: setGhost.of(null) }).state;
    expect(dismissed.field(ghostField)).toBeNull();
    expect(dismissed.doc.toString()).toBe(DOC);
  });
});

describe('promptBefore', () => {
  it('is the text before the cursor, cut at a line start when the document is long', () => {
    expect(promptBefore(DOC, 4)).toBe('def ');
    const long = `${'x = 1\n'.repeat(1000)}y = `;
    const prompt = promptBefore(long, long.length);
    expect(prompt.length).toBeLessThanOrEqual(PROMPT_CHARS);
    expect(prompt.startsWith('x = 1\n')).toBe(true);
    expect(prompt.endsWith('y = ')).toBe(true);
  });
});
