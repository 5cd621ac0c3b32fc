// config.json is untrusted: a few hundred mutated configs each parse to a sane config or throw ModelConfigError, nothing else.
import { describe, expect, it } from 'vitest';
import { ModelConfigError, parseModelConfig, toHfConfig } from '../src/model/config.ts';
import { seededUniform } from '../src/util/random.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';

const WEIRD_VALUES: unknown[] = [null, -1, 0, 1.5, 2 ** 40, Number.NaN, 'text', '', true, [], {}, [1, 2], { a: 1 }, 1e308, -0];

describe('parseModelConfig on mutated files', () => {
  const valid = toHfConfig(tinyConfig()) as Record<string, unknown>;
  const keys = Object.keys(valid);

  it('round-trips a valid config', () => {
    expect(parseModelConfig(JSON.stringify(valid))).toEqual(tinyConfig());
  });

  it('accepts or rejects with ModelConfigError, over 400 mutations', () => {
    const random = seededUniform(11);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)];
    let rejected = 0;
    for (let i = 0; i < 400; i++) {
      const mutated: Record<string, unknown> = structuredClone(valid);
      for (let edits = 1 + Math.floor(random() * 3); edits > 0; edits--) {
        const key = pick(keys);
        if (random() < 0.3) delete mutated[key];
        else mutated[key] = pick(WEIRD_VALUES);
      }
      let text = JSON.stringify(mutated);
      if (random() < 0.15) text = text.slice(0, Math.floor(random() * text.length)); // truncated file
      try {
        const config = parseModelConfig(text);
        // Whatever is accepted must be usable: positive integer sizes that divide as attention needs.
        for (const size of [config.vocabSize, config.hiddenSize, config.intermediateSize, config.numLayers, config.numHeads, config.numKvHeads, config.headDim]) {
          expect(Number.isSafeInteger(size) && size > 0).toBe(true);
        }
        expect(config.numHeads % config.numKvHeads).toBe(0);
        expect(Number.isFinite(config.ropeTheta) && config.ropeTheta > 0).toBe(true);
      } catch (error) {
        expect(error).toBeInstanceOf(ModelConfigError);
        rejected++;
      }
    }
    expect(rejected).toBeGreaterThan(100);
  });
});
