// Try a completion: the adapted model's continuation beside the base model's, for the same prompt, labelled with the commit whose adapter made it.
import { useState } from 'react';
import type { CompletionResult, GenerationTiming } from '../workers/pipelineApi.ts';

function describeTiming(timing: GenerationTiming): string {
  const rate = timing.decodeTokensPerSecond > 0 ? ` · ${timing.decodeTokensPerSecond.toFixed(1)} tokens/s` : '';
  return `${timing.tokens} tokens · first token ${timing.firstTokenSeconds.toFixed(2)} s${rate}`;
}

const EXAMPLE_PROMPT = 'def test_defaults():\n    assert ';

export function CompletionPanel({ onComplete, disabled, adapterCommit }: {
  onComplete: (prompt: string) => Promise<CompletionResult>;
  disabled: boolean;
  /** The commit of the adapter in use now (null when there is none): a result made with another one is marked outdated. */
  adapterCommit: string | null;
}) {
  const [prompt, setPrompt] = useState(EXAMPLE_PROMPT);
  const [result, setResult] = useState<(CompletionResult & { prompt: string }) | null>(null);
  const [running, setRunning] = useState(false);
  const [error, setError] = useState<string | null>(null);
  return (
    <section className="panel">
      <h2>Try a completion</h2>
      <textarea aria-label="Prompt" rows={6} value={prompt} onChange={(e) => setPrompt(e.target.value)} spellCheck={false} />
      <button
        type="button"
        aria-disabled={disabled || running || !prompt}
        onClick={async () => {
          // aria-disabled rather than disabled: a disabled button would drop keyboard focus to the page while it runs.
          if (disabled || running || !prompt) return;
          setRunning(true);
          setError(null);
          try {
            setResult({ ...(await onComplete(prompt)), prompt });
          } catch (err) {
            // A cancel is said by the app's notice; here it only clears the running state.
            if ((err as { code?: string }).code !== 'Cancelled') setError(String((err as Error).message ?? err));
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
            <pre data-testid="completion-base">{result.prompt}<mark>{result.base}</mark></pre>
            <small data-testid="timing-base">{result.promptTokens} prompt tokens · {describeTiming(result.baseTiming)}</small>
          </div>
          <div>
            <h3>With repository adapter</h3>
            {result.adapted === null || !result.adaptedTiming ? (
              <p className="muted" data-testid="completion-adapted">Clone a repository to generate its adapter.</p>
            ) : (
              <>
                <p data-testid="completion-adapter-label" data-commit={result.adapterCommit} data-stale={result.adapterCommit !== adapterCommit || undefined}>
                  With the adapter for {result.adapterCommit?.slice(0, 8)}
                  {result.adapterCommit !== adapterCommit && <strong className="stale-mark"> · outdated: made before the selected commit's adapter; complete again to use it</strong>}
                </p>
                <pre data-testid="completion-adapted">{result.prompt}<mark>{result.adapted}</mark></pre>
                <small data-testid="timing-adapted">{describeTiming(result.adaptedTiming)}</small>
              </>
            )}
          </div>
        </div>
      )}
    </section>
  );
}
