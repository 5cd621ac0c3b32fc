// The figures shown for a trained hypernetwork: every scalar its config's free-form "training" object records, labelled, nothing invented.
import { describe, expect, it } from 'vitest';
import { trainingFigures } from '../src/util/trainingFigures.ts';

describe('trainingFigures', () => {
  it('lists scalar entries labelled, exact match first, then losses, then the rest in order, numbers rounded to 4 significant digits', () => {
    expect(trainingFigures({ checkpoint: 'best.pt', step: 1500, best_cr_val_loss: 2.312345, cr_em: 0.4125, best_val: null, item: 3, ir_val_loss: 1 })).toEqual([
      { key: 'cr_em', label: 'CR EM', value: '0.4125' },
      { key: 'best_cr_val_loss', label: 'best CR val loss', value: '2.312' },
      { key: 'ir_val_loss', label: 'IR val loss', value: '1' },
      { key: 'checkpoint', label: 'checkpoint', value: 'best.pt' },
      { key: 'step', label: 'step', value: '1,500' },
      { key: 'item', label: 'item', value: '3' },
    ]);
  });

  it('keeps the results when settings come first and there are more than 12', () => {
    const settings = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`setting_${i}`, i]));
    const shown = trainingFigures({ ...settings, cr_val_loss: 1.2286, cr_test_em: 30.6 }).map((f) => f.key);
    expect(shown.slice(0, 2)).toEqual(['cr_test_em', 'cr_val_loss']);
    expect(shown).toHaveLength(12);
  });

  it('flattens one level of nesting and leaves out lists, deeper objects, long strings and non-finite numbers', () => {
    expect(trainingFigures({ eval: { ir_em: 0.5, runs: [1, 2], deeper: { x: 1 } }, note: 'x'.repeat(81), loss: Number.NaN, resumed: true })).toEqual([
      { key: 'eval.ir_em', label: 'eval IR EM', value: '0.5' },
      { key: 'resumed', label: 'resumed', value: 'true' },
    ]);
  });

  it('gives nothing for a missing or malformed object, and at most 12 figures', () => {
    for (const training of [undefined, null, 3, 'text', [1, 2]]) expect(trainingFigures(training)).toEqual([]);
    expect(trainingFigures(Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, i])))).toHaveLength(12);
  });
});
