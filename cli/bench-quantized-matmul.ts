// `npm run bench:quantized-matmul`: the quantized-weights kernel (src/model/quantizedMatMul.ts) against tfjs-wasm's
// float32 matMul (XNNPACK) on SmolLM2-135M's linear shapes, in Node, one thread, as the model calls them: x [tokens, in]
// times a weight of [out, in]; tfjs multiplies the float32 kernel [in, out] the model would otherwise hold.
//
//   npm run bench:quantized-matmul [-- --tokens 1,4,128] [--repeats N]
// Each figure is the fastest of N timed calls (the shared machine adds noise, never speed) after one untimed call (which is when XNNPACK packs its weight copy).
// "max |diff|" compares the kernel with tf.matMul of the same weights dequantized: float32 rounding only.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { QuantizedWeightStore, type QuantizedFormat } from '../src/model/quantizedMatMul.ts';
import { normalArray, seededUniform } from '../src/util/random.ts';

const { values: args } = parseArgs({ options: { tokens: { type: 'string', default: '1,4,128' }, repeats: { type: 'string', default: '21' } } });
const tokenCounts = args.tokens.split(',').map(Number);
const repeats = Number(args.repeats);

/** [out, in]: q_proj/o_proj, gate/up_proj, down_proj, the tied LM head (SmolLM2 ships it as Q8_0, the rest as Q4_1). */
const SHAPES: Array<{ name: string; out: number; in: number; format: QuantizedFormat }> = [
  { name: 'q_proj / o_proj', out: 576, in: 576, format: 'Q4_1' },
  { name: 'gate_proj / up_proj', out: 1536, in: 576, format: 'Q4_1' },
  { name: 'down_proj', out: 576, in: 1536, format: 'Q4_1' },
  { name: 'LM head', out: 49152, in: 576, format: 'Q8_0' },
];

function fastest(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[0];
}

function time(run: () => void): number {
  run();
  const samples: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    run();
    samples.push(performance.now() - start);
  }
  return fastest(samples);
}

console.log(`backend: ${await initBackend()}; fastest of ${repeats} calls`);
console.log('shape (out x in, format) | tokens | kernel ms | tf.matMul f32 ms | kernel / tfjs | widen W^T + tf.matMul ms | max |diff|');
const uniform = seededUniform(7);
for (const shape of SHAPES) {
  const store = new QuantizedWeightStore();
  const matrix = store.addFloat32(shape.format, normalArray(shape.out * shape.in, 0.05, uniform), shape.out, shape.in);
  // The float32 path holds exactly the dequantized weights, transposed to [in, out] as LlamaModel holds them.
  const weights = tf.tensor2d(matrix.rowsAsFloat32(Array.from({ length: shape.out }, (_, r) => r)), [shape.out, shape.in]);
  const kernel = tf.transpose(weights);
  weights.dispose();
  for (const tokens of tokenCounts) {
    const x = normalArray(tokens * shape.in, 1, uniform);
    const xTensor = tf.tensor2d(x, [tokens, shape.in]);
    let ours: Float32Array = new Float32Array(0);
    let theirs: Float32Array = new Float32Array(0);
    const kernelMs = time(() => {
      ours = matrix.matMul(x, tokens);
    });
    const tfjsMs = time(() => {
      // As the model does: read the input, multiply, read the result.
      const product = tf.matMul(tf.tensor2d(xTensor.dataSync() as Float32Array, [tokens, shape.in]), kernel);
      theirs = product.dataSync() as Float32Array;
      tf.dispose(product);
    });
    // The prefill alternative: widen W^T to float32 for this product only, multiply with tfjs, free it.
    const widenedMs = time(() => {
      const transient = tf.tensor2d(matrix.transposedAsFloat32(), [shape.in, shape.out]);
      const product = tf.matMul(tf.tensor2d(xTensor.dataSync() as Float32Array, [tokens, shape.in]), transient);
      product.dataSync();
      tf.dispose([product, transient]);
    });
    let maxDiff = 0;
    for (let i = 0; i < ours.length; i++) maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
    console.log(`${shape.name} (${shape.out} x ${shape.in}, ${shape.format}) | ${tokens} | ${kernelMs.toFixed(3)} | ${tfjsMs.toFixed(3)} | `
      + `${(kernelMs / tfjsMs).toFixed(2)}x | ${widenedMs.toFixed(3)} | ${maxDiff.toExponential(1)}`);
    xTensor.dispose();
  }
  kernel.dispose();
  store.dispose();
}
