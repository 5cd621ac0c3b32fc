// How the last operation ended: a neutral notice (e.g. after a cancel) and an error naming the stage that failed, with "Load again" when it was the model.
import type { AppError } from '../appState.ts';

export function StatusMessages({ notice, error, onLoadAgain }: { notice: string | null; error: AppError | null; onLoadAgain: () => void }) {
  return (
    <>
      {notice && (
        <div className="notice" role="status" data-testid="notice">
          {notice}
        </div>
      )}
      {error && (
        <div className="error" role="alert" data-testid="error">
          <strong>{error.stage} failed{error.code ? ` (${error.code})` : ''}:</strong> {error.message}
          {/* Nothing of a failed load is kept: loading again starts over (the repository reopens once the model is there). */}
          {error.stage === 'model' && (
            <>
              {' '}
              <button type="button" onClick={onLoadAgain}>
                Load again
              </button>
            </>
          )}
        </div>
      )}
    </>
  );
}
