// Try a completion: the adapted model's continuation beside the base model's, for the same prompt.
import { useState } from 'react';
import type { CompletionResult, GenerationTiming } from '../workers/pipelineApi.ts';

function describeTiming(timing: GenerationTiming): string {
  const rate = timing.decodeTokensPerSecond > 0 ? ` · ${timing.decodeTokensPerSecond.toFixed(1)} tokens/s` : '';
  return `${timing.tokens} tokens · first token ${timing.firstTokenSeconds.toFixed(2)} s${rate}`;
}

const EXAMPLE_PROMPT = 'def test_defaults():\n    assert ';

export function CompletionPanel({ onComplete, disabled }: { onComplete: (prompt: string) => Promise<CompletionResult>; disabled: boolean }) {
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
        disabled={disabled || running || !prompt}
        onClick={async () => {
          setRunning(true);
          setError(null);
          try {
            setResult({ ...(await onComplete(prompt)), prompt });
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
            <pre data-testid="completion-base">{result.prompt}<mark>{result.base}</mark></pre>
            <small data-testid="timing-base">{result.promptTokens} prompt tokens · {describeTiming(result.baseTiming)}</small>
          </div>
          <div>
            <h3>With repository adapter</h3>
            {result.adapted === null || !result.adaptedTiming ? (
              <p className="muted" data-testid="completion-adapted">Clone a repository to generate its adapter.</p>
            ) : (
              <>
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
