// Inline ghost-text completion for CodeMirror 6: a state field holds the suggestion, a view plugin asks for one when typing pauses (the next keystroke cancels it), Tab accepts, Escape dismisses.
import { EditorSelection, Prec, StateEffect, StateField, type EditorState, type Extension, type Text, type TransactionSpec } from '@codemirror/state';
import { Decoration, EditorView, keymap, ViewPlugin, WidgetType, type ViewUpdate } from '@codemirror/view';

/** A suggestion shown after `pos`, for the document it was made for. */
export interface Ghost {
  pos: number;
  text: string;
}

/**
 * Where suggestions come from: the text of the document and the cursor, and a signal that aborts when the user types
 * again (the suggestion would be stale). Resolves with the text to show, or null for none.
 */
export type GhostSource = (request: { doc: string; pos: number }, signal: AbortSignal) => Promise<string | null>;

/** Shows a suggestion (or, with null, takes it away). */
export const setGhost = StateEffect.define<Ghost | null>({
  map: (ghost, changes) => (ghost ? { ...ghost, pos: changes.mapPos(ghost.pos) } : null),
});

class GhostWidget extends WidgetType {
  constructor(readonly text: string) {
    super();
  }

  eq(other: GhostWidget): boolean {
    return other.text === this.text;
  }

  toDOM(): HTMLElement {
    const span = document.createElement('span');
    span.className = 'cm-ghost-text';
    span.dataset.testid = 'ghost-text';
    // The same text is in the "Adapted completion" region for screen readers; here it is decoration only.
    span.setAttribute('aria-hidden', 'true');
    span.textContent = this.text;
    return span;
  }

  ignoreEvent(): boolean {
    return true;
  }
}

/** The suggestion on screen: any edit or cursor move takes it away, since it was made for the text before. */
export const ghostField = StateField.define<Ghost | null>({
  create: () => null,
  update(ghost, tr) {
    for (const effect of tr.effects) if (effect.is(setGhost)) return effect.value;
    return tr.docChanged || tr.selection ? null : ghost;
  },
  provide: (field) => EditorView.decorations.from(field, (ghost) => (ghost
    ? Decoration.set([Decoration.widget({ widget: new GhostWidget(ghost.text), side: 1 }).range(ghost.pos)])
    : Decoration.none)),
});

/** The transaction that accepts the shown suggestion (inserted at its place, the cursor after it), or null when none. */
export function acceptGhost(state: EditorState): TransactionSpec | null {
  const ghost = state.field(ghostField, false);
  if (!ghost) return null;
  return {
    changes: { from: ghost.pos, insert: ghost.text },
    selection: EditorSelection.cursor(ghost.pos + ghost.text.length),
    effects: setGhost.of(null),
    userEvent: 'input.complete',
    scrollIntoView: true,
  };
}

/** Typing (Enter included), pasting or deleting: what asks for a new suggestion (not accepting one, not opening a file). */
function isTyping(update: ViewUpdate): boolean {
  return update.docChanged && update.transactions.some((tr) => (tr.isUserEvent('input') && !tr.isUserEvent('input.complete')) || tr.isUserEvent('delete'));
}

function ghostRequests(source: GhostSource, debounceMs: number) {
  return ViewPlugin.fromClass(class {
    private timer: ReturnType<typeof setTimeout> | null = null;
    private pending: AbortController | null = null;

    constructor(readonly view: EditorView) {}

    update(update: ViewUpdate): void {
      if (!update.docChanged && !update.selectionSet) return;
      // The suggestion being made is for the text before this change: stop it at once.
      this.stop();
      if (isTyping(update)) this.timer = setTimeout(() => this.request(), debounceMs);
    }

    private request(): void {
      this.timer = null;
      const { doc, selection } = this.view.state;
      const cursor = selection.main;
      if (!cursor.empty) return;
      const controller = new AbortController();
      this.pending = controller;
      source({ doc: doc.toString(), pos: cursor.head }, controller.signal).then(
        (text) => this.show(controller, doc, cursor.head, text),
        // A cancelled request is expected; a failed one is the source's to report.
        () => undefined,
      );
    }

    private show(controller: AbortController, doc: Text, pos: number, text: string | null): void {
      if (this.pending === controller) this.pending = null;
      const { state } = this.view;
      if (controller.signal.aborted || !text || state.doc !== doc || state.selection.main.head !== pos) return;
      this.view.dispatch({ effects: setGhost.of({ pos, text }) });
    }

    private stop(): void {
      if (this.timer !== null) clearTimeout(this.timer);
      this.timer = null;
      this.pending?.abort();
      this.pending = null;
    }

    destroy(): void {
      this.stop();
    }
  });
}

const ghostKeys = Prec.highest(keymap.of([
  {
    key: 'Tab',
    // Without a suggestion Tab is left to the browser, so it still moves focus out of the editor.
    run: (view) => {
      const accept = acceptGhost(view.state);
      if (accept) view.dispatch(accept);
      return accept !== null;
    },
  },
  {
    key: 'Escape',
    run: (view) => {
      if (!view.state.field(ghostField, false)) return false;
      view.dispatch({ effects: setGhost.of(null) });
      return true;
    },
  },
]));

const ghostTheme = EditorView.baseTheme({
  '.cm-ghost-text': { opacity: '0.5', fontStyle: 'italic', whiteSpace: 'pre' },
});

/**
 * Ghost-text completion: after typing pauses for `debounceMs`, `source` is asked for a suggestion at the cursor; it is
 * shown greyed after the cursor until the next edit or cursor move. Tab accepts it, Escape dismisses it.
 * @example
 * new EditorView({ extensions: [python(), ghostText({ source: async ({ doc, pos }, signal) => complete(doc.slice(0, pos), signal) })] })
 */
export function ghostText({ source, debounceMs = 300 }: { source: GhostSource; debounceMs?: number }): Extension {
  return [ghostField, ghostRequests(source, debounceMs), ghostKeys, ghostTheme];
}
