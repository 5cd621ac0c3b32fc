// Code2LoRA-Evo (inference), training/hypernet.py EvoHypernetwork exactly: a GRU state that starts at the repository's
// Static state and moves with each commit's diff embedding; the heads turn any state into an adapter.
import * as tf from '@tensorflow/tfjs';
import type { ModelConfig } from '../model/config.ts';
import type { LoraAdapter } from '../model/lora.ts';
import { HypernetworkError } from './errors.ts';
import { adapterFromState, dense, normalised, type Hypernetwork } from './hypernetwork.ts';

/** torch.nn.LayerNorm's default epsilon (diff_norm). */
const LAYER_NORM_EPS = 1e-5;

function requireEvo(hypernetwork: Pick<Hypernetwork, 'kind'>): void {
  if (hypernetwork.kind !== 'code2lora-evo') {
    throw new HypernetworkError('NOT_EVO', 'This hypernetwork has no Evo GRU (a Static hypernetwork cannot follow commits)');
  }
}

/**
 * One commit: h_t = GRUCell(LN(Linear(diff)), h_{t-1}), torch's gate order (reset, update, new):
 *   r = σ(W_ir x + b_ir + W_hr h + b_hr), z = σ(W_iz x + b_iz + W_hz h + b_hz),
 *   n = tanh(W_in x + b_in + r · (W_hn h + b_hn)), h' = (1 − z) · n + z · h.
 * A commit without a diff embedding (no non-test .py/.md/.rst hunk) leaves the state as it is, as in training.
 * Errors: HypernetworkError NOT_EVO, STATE_SIZE_MISMATCH, EMBEDDING_SIZE_MISMATCH.
 * @example const next = await stepEvoState(hypernetwork, state, await embedDiff(chunks, encoder));
 */
export async function stepEvoState(
  hypernetwork: Pick<Hypernetwork, 'kind' | 'config' | 'weights'>,
  state: Float32Array,
  diff: Float32Array | null,
): Promise<Float32Array> {
  requireEvo(hypernetwork);
  const { config, weights } = hypernetwork;
  const h = config.hiddenSize;
  if (state.length !== h) throw new HypernetworkError('STATE_SIZE_MISMATCH', `An Evo state has ${state.length} values, this hypernetwork's ${h}`);
  if (diff === null) return state;
  if (diff.length !== 2 * config.embeddingSize) {
    throw new HypernetworkError('EMBEDDING_SIZE_MISMATCH',
      `A diff embedding has ${diff.length} values, the hypernetwork expects ${2 * config.embeddingSize} (another encoder?)`);
  }
  const next = tf.tidy(() => {
    const projected = dense(tf.tensor2d(diff, [1, diff.length]), weights, 'diff_in');
    const { mean, variance } = tf.moments(projected, 1, true);
    const x = tf.add(tf.mul(tf.div(tf.sub(projected, mean), tf.sqrt(tf.add(variance, LAYER_NORM_EPS))),
      weights.get('diff_norm.weight')!), weights.get('diff_norm.bias')!) as tf.Tensor2D;
    const previous = tf.tensor2d(state, [1, h]);
    const gatesX = tf.add(tf.matMul(x, weights.get('gru.weight_ih') as tf.Tensor2D, false, true), weights.get('gru.bias_ih')!);
    const gatesH = tf.add(tf.matMul(previous, weights.get('gru.weight_hh') as tf.Tensor2D, false, true), weights.get('gru.bias_hh')!);
    const [xr, xz, xn] = tf.split(gatesX, 3, 1);
    const [hr, hz, hn] = tf.split(gatesH, 3, 1);
    const reset = tf.sigmoid(tf.add(xr, hr));
    const update = tf.sigmoid(tf.add(xz, hz));
    const candidate = tf.tanh(tf.add(xn, tf.mul(reset, hn)));
    return tf.add(tf.mul(tf.sub(1, update), candidate), tf.mul(update, previous));
  });
  const values = (await next.data()) as Float32Array;
  next.dispose();
  return values;
}

/**
 * The adapter of an Evo state: heads(normalise(h) · sqrt(H)), EvoHypernetwork.adapter_at. At the history's first
 * commit the state is repoState(files), so this equals Static's adapter there.
 * Errors: HypernetworkError NOT_EVO, STATE_SIZE_MISMATCH, BASE_MODEL_MISMATCH.
 */
export async function evoAdapter(
  hypernetwork: Pick<Hypernetwork, 'kind' | 'config' | 'weights'>,
  baseModel: ModelConfig,
  state: Float32Array,
): Promise<LoraAdapter> {
  requireEvo(hypernetwork);
  const h = hypernetwork.config.hiddenSize;
  if (state.length !== h) throw new HypernetworkError('STATE_SIZE_MISMATCH', `An Evo state has ${state.length} values, this hypernetwork's ${h}`);
  const scaled = tf.tidy(() => normalised(tf.tensor2d(state, [1, h]), h));
  const values = (await scaled.data()) as Float32Array;
  scaled.dispose();
  return adapterFromState(hypernetwork, baseModel, values);
}
