// The editor: a file of the selected commit or a scratch buffer in CodeMirror (Python), ghost text from the adapted model as you type, and beside it the adapted and the base model's completions for the same cursor.
import { useCallback, useEffect, useRef, useState } from 'react';
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import { bracketMatching, defaultHighlightStyle, indentOnInput, syntaxHighlighting } from '@codemirror/language';
import { EditorState, type Extension } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { ghostText, setGhost, type GhostSource } from './ghostText.ts';
import { FileTree, type OpenBuffer } from './FileTree.tsx';
import type { CompletionModel, CompletionResult, GenerationTiming } from '../workers/pipelineApi.ts';

const SCRATCH_TEXT = 'def test_defaults():\n    assert ';
/** The prompt is the text before the cursor, cut to this many characters (at a line start) to keep prefill short. */
export const PROMPT_CHARS = 1500;

/** The text a completion at `pos` continues: what precedes the cursor, from a line start at most PROMPT_CHARS back. */
export function promptBefore(doc: string, pos: number): string {
  const start = Math.max(0, pos - PROMPT_CHARS);
  const lineStart = start === 0 ? 0 : doc.indexOf('\n', start) + 1;
  return doc.slice(lineStart > 0 && lineStart <= pos ? lineStart : start, pos);
}

function describeTiming(timing: GenerationTiming): string {
  const rate = timing.decodeTokensPerSecond > 0 ? ` · ${timing.decodeTokensPerSecond.toFixed(1)} tokens/s` : '';
  return `${timing.tokens} tokens · first token ${timing.firstTokenSeconds.toFixed(2)} s${rate}`;
}

/** The completions for one cursor: undefined while being made, null when there is none (no adapter yet). */
interface Shown {
  adapted?: CompletionResult | null;
  base?: CompletionResult | null;
}

function isCancelled(err: unknown): boolean {
  const e = err as { code?: string; name?: string };
  return e?.code === 'CANCELLED' || e?.name === 'AbortError';
}

function Completion({ result, model, testId }: { result: CompletionResult; model: CompletionModel; testId: string }) {
  return (
    <>
      {/* The generated text only, never the prompt: what a test or a reader sees here is what the model wrote. */}
      <pre data-testid={testId} data-tokens={result.timing.tokens}>{result.text}</pre>
      {!result.text && <p className="muted">The model stopped at once: nothing generated.</p>}
      <small data-testid={`timing-${model}`}>{result.promptTokens} prompt tokens · {describeTiming(result.timing)}</small>
    </>
  );
}

export function EditorPanel({ commit, disabled, adapterCommit, listFiles, readFile, complete, completeNow }: {
  /** The selected commit, whose files the list shows; null before a repository is loaded. */
  commit: string | null;
  /** While true (the app is busy) no ghost text is asked for and Complete does nothing. */
  disabled: boolean;
  /** The commit of the adapter in use now (null when there is none): a result made with another one is marked outdated. */
  adapterCommit: string | null;
  listFiles: (commit: string) => Promise<string[]>;
  readFile: (commit: string, path: string) => Promise<string>;
  /** One model's completion without progress (ghost text); `signal` cancels it. */
  complete: (prompt: string, model: CompletionModel, signal: AbortSignal) => Promise<CompletionResult | null>;
  /** Both models' completions with progress and Cancel (the Complete button). */
  completeNow: (prompt: string) => Promise<{ adapted: CompletionResult | null; base: CompletionResult }>;
}) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const [files, setFiles] = useState<string[] | null>(null);
  const [open, setOpen] = useState<OpenBuffer>({ kind: 'scratch' });
  const scratch = useRef(SCRATCH_TEXT);
  const [shown, setShown] = useState<Shown | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  /** Why the open file is not the selected commit's version (the user's edits, or the file is not there). */
  const [stale, setStale] = useState<string | null>(null);
  /** The open file's text as read: a document that still equals it has no edits of the user's to keep. */
  const loaded = useRef<string | null>(null);

  // The editor is made once; what the ghost source reads changes with every render.
  const latest = useRef({ disabled, adapterCommit, complete });
  latest.current = { disabled, adapterCommit, complete };
  const source: GhostSource = async ({ doc, pos }, signal) => {
    const { disabled: busy, adapterCommit: adapted, complete: run } = latest.current;
    const prompt = promptBefore(doc, pos);
    if (busy || !prompt.trim()) return null;
    const first: CompletionModel = adapted ? 'adapted' : 'base';
    try {
      const made = await run(prompt, first, signal);
      setError(null);
      setShown(first === 'adapted' ? { adapted: made } : { adapted: null, base: made });
      // The base model's completion for the same cursor, beside the ghost; the next keystroke cancels it too.
      if (first === 'adapted') {
        run(prompt, 'base', signal).then((base) => !signal.aborted && setShown((s) => ({ ...s, base })), (err) => !isCancelled(err) && setError(String(err?.message ?? err)));
      }
      return made?.text ?? null;
    } catch (err) {
      if (!isCancelled(err)) setError(String((err as Error)?.message ?? err));
      return null;
    }
  };
  const sourceRef = useRef(source);
  sourceRef.current = source;

  const extensions = useRef<Extension>([
    lineNumbers(), history(), drawSelection(), highlightActiveLine(), indentOnInput(), bracketMatching(),
    keymap.of([...defaultKeymap, ...historyKeymap]),
    python(), syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
    ghostText({ source: (request, signal) => sourceRef.current(request, signal) }),
    EditorView.contentAttributes.of({ 'aria-label': 'Editor', 'data-testid': 'editor' }),
  ]).current;

  useEffect(() => {
    const editor = new EditorView({ parent: host.current!, state: EditorState.create({ doc: scratch.current, selection: { anchor: scratch.current.length }, extensions }) });
    view.current = editor;
    return () => editor.destroy();
  }, [extensions]);

  useEffect(() => {
    if (!commit) return;
    let live = true;
    setFiles(null);
    listFiles(commit).then((paths) => live && setFiles(paths), (err) => live && !isCancelled(err) && setError(String(err?.message ?? err)));
    return () => {
      live = false;
    };
  }, [commit, listFiles]);

  /** Shows `text` as `buffer`; the scratch buffer opens with the cursor where its text ends, a file at `cursor`. */
  const show = (buffer: OpenBuffer, text: string, cursor = 0) => {
    const editor = view.current!;
    if (open.kind === 'scratch') scratch.current = editor.state.doc.toString();
    editor.setState(EditorState.create({ doc: text, selection: { anchor: buffer.kind === 'scratch' ? text.length : Math.min(cursor, text.length) }, extensions }));
    loaded.current = buffer.kind === 'file' ? text : null;
    setOpen(buffer);
    setShown(null);
    setStale(null);
  };

  // Another commit selected while a file is open: show that commit's version of it, unless the user has edited it.
  useEffect(() => {
    const editor = view.current;
    if (!commit || !editor || open.kind !== 'file' || open.commit === commit) return;
    const { path, commit: shownCommit } = open;
    const asOf = `it still shows the file as of ${shownCommit.slice(0, 8)}`;
    if (editor.state.doc.toString() !== loaded.current) {
      setStale(`${path} has your edits, so ${asOf}; open it from the file tree to load it at ${commit.slice(0, 8)}.`);
      return;
    }
    let live = true;
    const cursor = editor.state.selection.main.head;
    readFile(commit, path).then(
      (text) => live && show({ kind: 'file', commit, path }, text, cursor),
      (err) => live && !isCancelled(err) && setStale(`${path} cannot be opened at ${commit.slice(0, 8)} (${(err as Error)?.message ?? err}), so ${asOf}.`),
    );
    return () => {
      live = false;
    };
    // Only a change of commit reloads; `open` changes when the reload lands.
  }, [commit]);

  const openBuffer = async (buffer: { kind: 'scratch' } | { kind: 'file'; path: string }) => {
    setError(null);
    if (buffer.kind === 'scratch') return show(buffer, scratch.current);
    if (!commit) return;
    try {
      show({ kind: 'file', commit, path: buffer.path }, await readFile(commit, buffer.path));
    } catch (err) {
      if (!isCancelled(err)) setError(`${buffer.path}: ${(err as Error)?.message ?? err}`);
    }
  };

  // One function for the file tree's whole life, so the (memoised) tree is not rendered again with every panel render.
  const openBufferRef = useRef(openBuffer);
  openBufferRef.current = openBuffer;
  const onOpen = useCallback((buffer: { kind: 'scratch' } | { kind: 'file'; path: string }) => void openBufferRef.current(buffer), []);

  const completeAtCursor = async () => {
    // aria-disabled rather than disabled: a disabled button would drop keyboard focus to the page while it runs.
    const editor = view.current;
    if (disabled || running || !editor) return;
    const { doc, selection } = editor.state;
    const pos = selection.main.head;
    const prompt = promptBefore(doc.toString(), pos);
    if (!prompt.trim()) return setError('Type some code before the cursor first.');
    setRunning(true);
    setError(null);
    setShown({});
    try {
      const both = await completeNow(prompt);
      setShown(both);
      const text = (both.adapted ?? both.base).text;
      if (text && editor.state.doc === doc && editor.state.selection.main.head === pos) editor.dispatch({ effects: setGhost.of({ pos, text }) });
    } catch (err) {
      // A cancel is said by the app's notice; here it only clears the running state.
      setShown(null);
      if (!isCancelled(err)) setError(String((err as Error)?.message ?? err));
    } finally {
      setRunning(false);
    }
  };

  const adapted = shown?.adapted;
  return (
    <section className="panel editor-panel" aria-labelledby="editor-heading">
      <h2 id="editor-heading">Editor</h2>
      <p className="muted">
        {open.kind === 'file' ? <>Editing <code data-testid="open-file">{open.path}</code> at {open.commit.slice(0, 8)}</> : 'Scratch buffer'}
        {' '}· ghost text from the {adapterCommit ? 'adapted' : 'base'} model as you type: Tab accepts, Escape dismisses.
      </p>
      <div className="editor-layout">
        {commit && <FileTree files={files} open={open} onOpen={onOpen} />}
        <div className="editor-host" ref={host} />
      </div>
      <button type="button" aria-disabled={disabled || running} onClick={() => void completeAtCursor()}>
        {running ? 'Generating…' : 'Complete'}
      </button>
      {stale && <p className="stale-mark" data-testid="open-file-stale">{stale}</p>}
      {error && <div className="error" role="alert">{error}</div>}
      <div className="two-columns completions">
        <section role="region" aria-label="Adapted completion" data-testid="adapted-completion">
          <h3>With repository adapter</h3>
          {adapted === null ? (
            <p className="muted" data-testid="completion-adapted">Clone a repository to generate its adapter.</p>
          ) : adapted ? (
            <>
              <p data-testid="completion-adapter-label" data-commit={adapted.adapterCommit} data-stale={adapted.adapterCommit !== adapterCommit || undefined}>
                With the adapter for {adapted.adapterCommit?.slice(0, 8)}
                {adapted.adapterCommit !== adapterCommit && <strong className="stale-mark"> · outdated: made before the selected commit's adapter; complete again to use it</strong>}
              </p>
              <Completion result={adapted} model="adapted" testId="completion-adapted" />
            </>
          ) : <p className="muted">{shown ? 'Generating…' : 'Type in the editor or press Complete: the completion at the cursor appears here.'}</p>}
        </section>
        <section role="region" aria-label="Base completion" data-testid="base-completion">
          <h3>Base model</h3>
          {shown?.base ? <Completion result={shown.base} model="base" testId="completion-base" /> : <p className="muted">{shown ? 'Generating…' : 'The base model\'s completion for the same cursor.'}</p>}
        </section>
      </div>
    </section>
  );
}
