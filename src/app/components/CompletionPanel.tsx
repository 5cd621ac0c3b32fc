// Try a completion: the adapted model's continuation beside the base model's, for the same prompt.
import { useState } from 'react';
import type { CompletionResult } from '../workers/pipelineApi.ts';

const EXAMPLE_PROMPT = 'def test_defaults():\n    assert ';

export function CompletionPanel({ onComplete, disabled }: { onComplete: (prompt: string) => Promise<CompletionResult>; disabled: boolean }) {
  const [prompt, setPrompt] = useState(EXAMPLE_PROMPT);
  const [result, setResult] = useState<CompletionResult | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <section className="panel">
      <h2>Try a completion</h2>
      <textarea aria-label="Prompt" rows={6} value={prompt} onChange={(e) => setPrompt(e.target.value)} spellCheck={false} />
      <button
        type="button"
        disabled={disabled || running || !prompt}
        onClick={async () => {
          setRunning(true);
          setError(null);
          try {
            setResult(await onComplete(prompt));
          } catch (err) {
            setError(String((err as Error).message ?? err));
          } finally {
            setRunning(false);
          }
        }}
      >
        {running ? 'Generating…' : 'Complete'}
      </button>
      {error && <div className="error" role="alert">{error}</div>}
      {result && (
        <div className="two-columns completions">
          <div>
            <h3>Base model</h3>
            <pre data-testid="completion-base">{prompt}<mark>{result.base}</mark></pre>
          </div>
          <div>
            <h3>With repository adapter</h3>
            <pre data-testid="completion-adapted">{prompt}<mark>{result.adapted ?? ''}</mark></pre>
          </div>
          <small>{result.promptTokens} prompt tokens · {result.seconds.toFixed(2)} s for both</small>
        </div>
      )}
    </section>
  );
}
