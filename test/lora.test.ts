// LoRA: unmerged equals the formula, merged equals unmerged, unmerge restores base exactly, PEFT layout round trip and validation.
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { LlamaModel } from '../src/model/llama.ts';
import {
  disposeLoraAdapter, disposePreparedLora, exportPeftAdapter, importPeftAdapter, LoraError, mergeLora, prepareLora,
  randomLoraAdapter, unmergeLora, type LoraAdapter, type PreparedLora,
} from '../src/model/lora.ts';
import { parseSafetensors, writeSafetensors } from '../src/model/safetensors.ts';
import { maxAbsDiff, tinyConfig } from './fixtures/tinyModel.ts';

const config = tinyConfig({ architectures: ['Qwen2ForCausalLM'], tie_word_embeddings: true });
const IDS = [4, 9, 33, 1, 50, 12, 7];

beforeAll(async () => {
  await initBackend();
});

/** Logits for IDS, with a prepared adapter or with an adapter prepared for this call only. */
async function logits(model: LlamaModel, lora?: LoraAdapter | PreparedLora): Promise<Float32Array> {
  const prepared = lora && 'targetModules' in lora ? prepareLora(lora, model.config) : lora;
  const out = model.forward(IDS, { lora: prepared });
  const values = (await out.data()) as Float32Array;
  out.dispose();
  if (prepared !== lora) disposePreparedLora(prepared!);
  return values;
}

/** Every layer's kernel for one module, downloaded. */
async function moduleKernels(model: LlamaModel, module: 'q_proj' | 'down_proj'): Promise<Float32Array[]> {
  return Promise.all(model.weights.layers.map((layer) => (layer.linear[module].kernel as tf.Tensor2D).data() as Promise<Float32Array>));
}

describe('unmerged LoRA', () => {
  it('adds (alpha/r) (x A^T) B^T to exactly the adapted projection', async () => {
    const model = LlamaModel.random(config, { seed: 1, std: 0.2 });
    const adapter = randomLoraAdapter(config, { rank: 3, alpha: 6, targetModules: ['v_proj'], seed: 2, std: 0.3 });
    // The same change made by hand: v_proj.weight += (alpha/r) B A in a second model with the same base weights.
    const manual = LlamaModel.random(config, { seed: 1, std: 0.2 });
    for (let layer = 0; layer < config.numLayers; layer++) {
      const linear = manual.weights.layers[layer].linear.v_proj;
      const old = linear.kernel as tf.Tensor2D;
      const [inFeatures, out] = old.shape; // kernel = W^T
      const { A, B } = adapter.layers[layer].v_proj! as { A: Float32Array; B: Float32Array };
      const deltaTransposed = new Float32Array(inFeatures * out);
      for (let o = 0; o < out; o++) for (let i = 0; i < inFeatures; i++) {
        let sum = 0;
        for (let r = 0; r < 3; r++) sum += B[o * 3 + r] * A[r * inFeatures + i];
        deltaTransposed[i * out + o] = 2 * sum;
      }
      linear.kernel = tf.add(old, tf.tensor2d(deltaTransposed, [inFeatures, out])) as tf.Tensor2D;
      old.dispose();
    }
    const difference = maxAbsDiff(await logits(model, adapter), await logits(manual));
    expect(difference).toBeLessThan(1e-5);
    expect(maxAbsDiff(await logits(model, adapter), await logits(model))).toBeGreaterThan(1e-2);
    model.dispose();
    manual.dispose();
  });

  it('a zero-B adapter gives the base logits; swapping adapters leaves the base untouched', async () => {
    const model = LlamaModel.random(config, { seed: 3, std: 0.2 });
    const base = await logits(model);
    const zero = randomLoraAdapter(config, { rank: 4, seed: 4 });
    for (const modules of zero.layers) for (const pair of Object.values(modules)) (pair.B as Float32Array).fill(0);
    expect(maxAbsDiff(await logits(model, zero), base)).toBe(0);
    const tensorsBefore = tf.memory().numTensors;
    const first = prepareLora(randomLoraAdapter(config, { seed: 5 }), config);
    const second = prepareLora(randomLoraAdapter(config, { seed: 6 }), config);
    const withFirst = await logits(model, first);
    await logits(model, second);
    expect(maxAbsDiff(await logits(model), base)).toBe(0);
    expect(maxAbsDiff(await logits(model, first), withFirst)).toBe(0);
    disposePreparedLora(first);
    disposePreparedLora(second);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    model.dispose();
  });

  it('adapters held as tensors (as a hypernetwork outputs them) act as their Float32Array copies', async () => {
    const model = LlamaModel.random(config, { seed: 7, std: 0.2 });
    const plain = randomLoraAdapter(config, { seed: 8, targetModules: ['q_proj', 'gate_proj'] });
    const asTensors: LoraAdapter = {
      ...plain,
      layers: plain.layers.map((modules) => Object.fromEntries(Object.entries(modules).map(([module, { A, B }]) => {
        const [out, inFeatures] = module === 'q_proj' ? [config.hiddenSize, config.hiddenSize] : [config.intermediateSize, config.hiddenSize];
        return [module, { A: tf.tensor2d(A as Float32Array, [plain.rank, inFeatures]), B: tf.tensor2d(B as Float32Array, [out, plain.rank]) }];
      }))),
    };
    expect(maxAbsDiff(await logits(model, plain), await logits(model, asTensors))).toBe(0);
    disposeLoraAdapter(asTensors);
    model.dispose();
  });
});

describe('merged LoRA', () => {
  it('merged logits equal unmerged; unmerge restores the base weights bit for bit', async () => {
    const model = LlamaModel.random(config, { seed: 9, std: 0.2 });
    const adapter = randomLoraAdapter(config, { rank: 8, alpha: 16, seed: 10, std: 0.1 });
    const baseLogits = await logits(model);
    const baseWeights = await moduleKernels(model, 'down_proj');
    const unmerged = await logits(model, adapter);
    const tensorsBefore = tf.memory().numTensors;
    const merged = mergeLora(model, adapter);
    const mergedLogits = await logits(model);
    const difference = maxAbsDiff(mergedLogits, unmerged);
    expect(difference).toBeLessThan(1e-4);
    expect(maxAbsDiff(mergedLogits, baseLogits)).toBeGreaterThan(1e-2);
    unmergeLora(model, merged);
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    const restored = await moduleKernels(model, 'down_proj');
    restored.forEach((weights, layer) => expect(maxAbsDiff(weights, baseWeights[layer])).toBe(0));
    expect(maxAbsDiff(await logits(model), baseLogits)).toBe(0);
    expect(() => unmergeLora(model, { adapter, replaced: [{ layer: 0, module: 'q_proj', base: model.weights.layers[0].linear.q_proj.kernel as tf.Tensor2D, merged: tf.zeros([1, 1]) }] }))
      .toThrow(LoraError);
    model.dispose();
  });
});

describe('PEFT layout', () => {
  it('exports keys, shapes and adapter_config as PEFT does, and imports them back', async () => {
    const adapter = randomLoraAdapter(config, { rank: 4, alpha: 8, targetModules: ['q_proj', 'down_proj'], seed: 11 });
    const { safetensors, adapterConfig } = await exportPeftAdapter(adapter, { baseModelNameOrPath: 'tiny/qwen2' });
    const { tensors } = parseSafetensors(safetensors);
    expect([...tensors.keys()].sort()).toEqual([
      'base_model.model.model.layers.0.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.0.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_A.weight',
      'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_A.weight',
      'base_model.model.model.layers.1.self_attn.q_proj.lora_B.weight',
    ]);
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_A.weight')!.shape).toEqual([4, config.intermediateSize]);
    expect(tensors.get('base_model.model.model.layers.0.mlp.down_proj.lora_B.weight')!.shape).toEqual([config.hiddenSize, 4]);
    expect(adapterConfig).toMatchObject({
      peft_type: 'LORA', task_type: 'CAUSAL_LM', r: 4, lora_alpha: 8, target_modules: ['down_proj', 'q_proj'],
      base_model_name_or_path: 'tiny/qwen2', lora_dropout: 0, bias: 'none', fan_in_fan_out: false, inference_mode: true,
    });
    const imported = importPeftAdapter(safetensors, JSON.stringify(adapterConfig), config);
    expect(imported.rank).toBe(4);
    expect(imported.alpha).toBe(8);
    expect(imported.targetModules.sort()).toEqual(['down_proj', 'q_proj']);
    for (let layer = 0; layer < config.numLayers; layer++) {
      for (const module of ['q_proj', 'down_proj'] as const) {
        expect(imported.layers[layer][module]!.A).toEqual(adapter.layers[layer][module]!.A);
        expect(imported.layers[layer][module]!.B).toEqual(adapter.layers[layer][module]!.B);
      }
    }
  });

  it('imports bf16 adapters', async () => {
    const adapter = randomLoraAdapter(config, { rank: 2, targetModules: ['k_proj'], seed: 12 });
    const { adapterConfig } = await exportPeftAdapter(adapter);
    const bf16 = writeSafetensors(Object.fromEntries(adapter.layers.flatMap((modules, layer) => [
      [`base_model.model.model.layers.${layer}.self_attn.k_proj.lora_A.weight`, { dtype: 'BF16' as const, shape: [2, config.hiddenSize], data: modules.k_proj!.A as Float32Array }],
      [`base_model.model.model.layers.${layer}.self_attn.k_proj.lora_B.weight`, { dtype: 'BF16' as const, shape: [config.numKvHeads * config.headDim, 2], data: modules.k_proj!.B as Float32Array }],
    ])));
    const imported = importPeftAdapter(bf16, adapterConfig, config);
    expect(maxAbsDiff(imported.layers[1].k_proj!.A as Float32Array, adapter.layers[1].k_proj!.A as Float32Array)).toBeLessThan(1e-2);
  });

  it('rejects adapters that do not fit the model, with a code', async () => {
    const adapter = randomLoraAdapter(config, { rank: 4, targetModules: ['q_proj'], seed: 13 });
    const { safetensors, adapterConfig } = await exportPeftAdapter(adapter);
    const expectCode = (action: () => unknown, code: string) => {
      try {
        action();
      } catch (error) {
        expect(error).toBeInstanceOf(LoraError);
        expect((error as LoraError).code).toBe(code);
        return;
      }
      throw new Error(`expected LoraError ${code}`);
    };
    expectCode(() => importPeftAdapter(safetensors, { ...adapterConfig, r: 8 }, config), 'SHAPE_MISMATCH');
    expectCode(() => importPeftAdapter(safetensors, adapterConfig, tinyConfig({ hidden_size: 64 })), 'SHAPE_MISMATCH');
    expectCode(() => importPeftAdapter(safetensors, adapterConfig, tinyConfig({ num_hidden_layers: 1 })), 'BAD_KEY');
    expectCode(() => importPeftAdapter(safetensors, { ...adapterConfig, target_modules: ['v_proj'] }, config), 'BAD_KEY');
    expectCode(() => importPeftAdapter(safetensors, { ...adapterConfig, use_dora: true }, config), 'UNSUPPORTED_FEATURE');
    expectCode(() => importPeftAdapter(safetensors, { ...adapterConfig, peft_type: 'IA3' }, config), 'UNSUPPORTED_FEATURE');
    expectCode(() => importPeftAdapter(safetensors, '{not json', config), 'BAD_CONFIG');
    expectCode(() => importPeftAdapter(safetensors.subarray(0, 100), adapterConfig, config), 'BAD_FILE');
    const onlyA = writeSafetensors({
      'base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight': { dtype: 'F32', shape: [4, config.hiddenSize], data: new Float32Array(4 * config.hiddenSize) },
    });
    expectCode(() => importPeftAdapter(onlyA, adapterConfig, config), 'MISSING_PAIR');
    expectCode(() => prepareLora({ ...adapter, rank: 5 }, config), 'SHAPE_MISMATCH');
  });
});
