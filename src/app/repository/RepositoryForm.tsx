// The repository's URL and history depth, and the button that clones it and makes the adapter of its head.
export function RepositoryForm({ url, historyDepth, busy, ready, onUrlChange, onHistoryDepthChange, onClone }: {
  url: string;
  historyDepth: number;
  busy: boolean;
  /** The model is loaded: a clone can go on to make the adapter. */
  ready: boolean;
  onUrlChange: (url: string) => void;
  onHistoryDepthChange: (depth: number) => void;
  onClone: () => void;
}) {
  const blocked = busy || !url.trim() || !ready;
  return (
    <form
      className="row"
      onSubmit={(e) => {
        e.preventDefault();
        if (!blocked) onClone();
      }}
    >
      <input aria-label="Repository URL" placeholder="https://github.com/owner/repo" value={url} onChange={(e) => onUrlChange(e.target.value)} readOnly={busy} />
      <label>
        history
        <input
          aria-label="History depth"
          type="number"
          min={1}
          max={10000}
          value={historyDepth}
          onChange={(e) => onHistoryDepthChange(Math.max(1, Math.min(10000, Number(e.target.value) || 1)))}
        />
        commits
      </label>
      {/* aria-disabled, not disabled: a disabled button would drop keyboard focus to the page while it works. */}
      <button type="submit" aria-disabled={blocked}>
        Clone &amp; generate adapter
      </button>
    </form>
  );
}
