// Custom WGSL kernels for one-token decode on tfjs's WebGPU backend: matrix-vector with fused bias and LoRA, RMSNorm,
// RoPE, SwiGLU, and attention of one query per head over the KV cache, each replacing a chain of small tfjs dispatches.
//
// Decode multiplies a single row by every weight matrix, so its cost on a GPU is the number of kernel launches more
// than arithmetic: tfjs launches one per op (matMul, bias add, LoRA's two matMuls and add; RMSNorm's six elementwise
// ops and a reduction). These kernels run through `backend.runWebGPUProgram`, the same entry point tfjs's own programs
// use, so their outputs are ordinary tf.Tensors that tidy() tracks and other ops consume. Only for the webgpu backend:
// callers check `fusedDecodeKernelsAvailable()` first.
import * as tf from '@tensorflow/tfjs';

/** The part of tfjs-backend-webgpu's WebGPUProgram these kernels fill in (the backend adds shaderKey suffixes and the pipeline). */
interface WebGpuProgram {
  variableNames: string[];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout: { x: number[] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number];
  /** Adds `uniforms.size`, the output's element count. */
  size?: boolean;
  uniforms?: string;
  getUserCode(): string;
}

interface WebGpuBackend {
  runWebGPUProgram(program: WebGpuProgram, inputs: tf.TensorInfo[], outputDtype: tf.DataType,
    uniforms?: Array<{ type: 'float32' | 'int32'; data: number[] }>): tf.TensorInfo;
}

/** True when the active tfjs backend is webgpu, the only one these kernels run on. */
export function fusedDecodeKernelsAvailable(): boolean {
  return tf.getBackend() === 'webgpu';
}

function run(program: WebGpuProgram, inputs: tf.Tensor[], uniforms?: Array<{ type: 'float32' | 'int32'; data: number[] }>): tf.Tensor {
  if (!fusedDecodeKernelsAvailable()) throw new Error(`WebGPU decode kernels need the webgpu backend, not ${tf.getBackend()}`);
  const backend = tf.backend() as unknown as WebGpuBackend;
  return tf.engine().makeTensorFromTensorInfo(backend.runWebGPUProgram(program, inputs, 'float32', uniforms));
}

// tfjs's shader prelude calls main(index) for programs whose dispatch layout has only an x part; these kernels index
// by workgroup and local invocation instead, so they ignore it. Workgroup ids span x and y in case tfjs folds a long
// dispatch into two dimensions. Every shader must read `uniforms` (tfjs declares input shapes there): tfjs always binds
// that buffer, and WebGPU's automatic layout drops an unread binding, which makes the whole submission invalid.
const MAIN = 'fn main(index : i32)';
const WORKGROUP_INDEX = 'i32(workgroupId.y * numWorkgroups.x + workgroupId.x)';

/** Output columns per workgroup in fusedLinear, and how many threads split the input dimension of each column. */
const COLUMNS = 64;
const SLICES = 4;

function assertShape(name: string, actual: readonly number[], expected: readonly number[]): void {
  if (actual.length !== expected.length || actual.some((d, i) => d !== expected[i])) {
    throw new RangeError(`${name} has shape [${actual}], expected [${expected}]`);
  }
}

/**
 * y = x·kernel + bias + (x·down)·up for one row x [1, in], in one dispatch. kernel [in, out], bias [out], down [in, r],
 * up [r, out]; bias and the LoRA pair are optional. Each workgroup computes 64 output columns with 4 threads per column,
 * each summing a quarter of the input dimension; the rank-r LoRA row x·down is recomputed by every workgroup (it costs
 * r/out of the main product) in chunks of 64 held in workgroup memory, so any rank works.
 */
export function fusedLinear(
  x: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor1D | null, lora: { down: tf.Tensor2D; up: tf.Tensor2D } | null,
): tf.Tensor2D {
  const [inFeatures, outFeatures] = kernel.shape;
  assertShape('fusedLinear x', x.shape, [1, inFeatures]);
  if (bias) assertShape('fusedLinear bias', bias.shape, [outFeatures]);
  if (lora) {
    const rank = lora.down.shape[1];
    assertShape('fusedLinear down', lora.down.shape, [inFeatures, rank]);
    assertShape('fusedLinear up', lora.up.shape, [rank, outFeatures]);
  }
  const variableNames = ['X', 'W', ...(bias ? ['Bias'] : []), ...(lora ? ['Down', 'Up'] : [])];
  const loraCode = `
    let rank = uniforms.downShape.y;
    for (var chunkStart = 0; chunkStart < rank; chunkStart += ${COLUMNS}) {
      let k = chunkStart + column;
      var hiddenPart = 0.0;
      if (k < rank) {
        for (var i = slice; i < inFeatures; i += ${SLICES}) { hiddenPart += X[i] * Down[i * rank + k]; }
      }
      partial[localIndex] = hiddenPart;
      workgroupBarrier();
      if (slice == 0) { loraHidden[column] = ${sumOfSlices('column')}; }
      workgroupBarrier();
      if (j < outFeatures) {
        let chunk = min(${COLUMNS}, rank - chunkStart);
        for (var c = slice; c < chunk; c += ${SLICES}) { sum += loraHidden[c] * Up[(chunkStart + c) * outFeatures + j]; }
      }
      workgroupBarrier();
    }`;
  const program: WebGpuProgram = {
    variableNames,
    outputShape: [1, outFeatures],
    shaderKey: `c2lFusedLinear_${bias ? 'bias' : 'nobias'}_${lora ? 'lora' : 'nolora'}`,
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil(outFeatures / COLUMNS), 1, 1],
    workgroupSize: [COLUMNS * SLICES, 1, 1],
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${COLUMNS * SLICES}>;
      ${lora ? `var<workgroup> loraHidden : array<f32, ${COLUMNS}>;` : ''}
      ${MAIN} {
        let column = i32(localIndex % ${COLUMNS}u);
        let slice = i32(localIndex / ${COLUMNS}u);
        let j = ${WORKGROUP_INDEX} * ${COLUMNS} + column;
        let inFeatures = uniforms.wShape.x;
        let outFeatures = uniforms.wShape.y;
        var sum = 0.0;
        if (j < outFeatures) {
          for (var i = slice; i < inFeatures; i += ${SLICES}) { sum += X[i] * W[i * outFeatures + j]; }
        }
        ${lora ? loraCode : ''}
        partial[localIndex] = sum;
        workgroupBarrier();
        if (slice == 0 && j < outFeatures) {
          result[j] = ${sumOfSlices('column')}${bias ? ' + Bias[j]' : ''};
        }
      }`,
  };
  return run(program, [x, kernel, ...(bias ? [bias] : []), ...(lora ? [lora.down, lora.up] : [])]) as tf.Tensor2D;
}

/** The four per-slice partial sums of one column, read from workgroup memory. */
function sumOfSlices(column: string): string {
  return Array.from({ length: SLICES }, (_, s) => `partial[${column} + ${s * COLUMNS}]`).join(' + ');
}

const NORM_THREADS = 256;

/**
 * RMSNorm x · rsqrt(mean(x²) + eps) · weight over the last axis of x [rows, width], one workgroup per row, in one
 * dispatch (tfjs needs seven). The same operation order as the unfused path, so results agree to float32 rounding.
 */
export function fusedRmsNorm(x: tf.Tensor2D, weight: tf.Tensor1D, eps: number): tf.Tensor2D {
  const [rows, width] = x.shape;
  assertShape('fusedRmsNorm weight', weight.shape, [width]);
  const program: WebGpuProgram = {
    variableNames: ['X', 'Weight'],
    outputShape: [rows, width],
    shaderKey: 'c2lFusedRmsNorm',
    dispatchLayout: { x: [0, 1] },
    dispatch: [rows, 1, 1],
    workgroupSize: [NORM_THREADS, 1, 1],
    uniforms: 'eps : f32,',
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${NORM_THREADS}>;
      ${MAIN} {
        let width = uniforms.xShape.y;
        let offset = ${WORKGROUP_INDEX} * width;
        var sum = 0.0;
        for (var i = i32(localIndex); i < width; i += ${NORM_THREADS}) {
          let value = X[offset + i];
          sum += value * value;
        }
        partial[localIndex] = sum;
        workgroupBarrier();
        for (var stride = ${NORM_THREADS / 2}u; stride > 0u; stride = stride / 2u) {
          if (localIndex < stride) { partial[localIndex] += partial[localIndex + stride]; }
          workgroupBarrier();
        }
        let scale = inverseSqrt(partial[0] / f32(width) + uniforms.eps);
        for (var i = i32(localIndex); i < width; i += ${NORM_THREADS}) {
          result[offset + i] = X[offset + i] * scale * Weight[i];
        }
      }`,
  };
  return run(program, [x, weight], [{ type: 'float32', data: [eps] }]) as tf.Tensor2D;
}

const ELEMENTWISE_THREADS = 128;

/** A program that computes each element of outputShape independently, 128 per workgroup. */
function elementwiseProgram(variableNames: string[], outputShape: number[], shaderKey: string, body: string): WebGpuProgram {
  const size = outputShape.reduce((a, b) => a * b, 1);
  return {
    variableNames,
    outputShape,
    shaderKey,
    dispatchLayout: { x: outputShape.map((_, i) => i) },
    dispatch: [Math.ceil(size / ELEMENTWISE_THREADS), 1, 1],
    workgroupSize: [ELEMENTWISE_THREADS, 1, 1],
    size: true,
    getUserCode: () => `
      ${MAIN} {
        let flat = ${WORKGROUP_INDEX} * ${ELEMENTWISE_THREADS} + i32(localIndex);
        if (flat >= uniforms.size) { return; }
        ${body}
      }`,
  };
}

/**
 * Rotary embedding of one position for x [heads, headDim]: x·cos + rotate_half(x)·sin with rotate_half(x) = cat(-x2, x1),
 * cos and sin [1, headDim] (the tables LlamaModel builds), in one dispatch instead of seven. Same arithmetic as the
 * tfjs ops (two products and a sum per element).
 */
export function fusedRope(x: tf.Tensor2D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor2D {
  const [heads, headDim] = x.shape;
  if (headDim % 2 !== 0) throw new RangeError(`RoPE needs an even head size, got ${headDim}`);
  assertShape('fusedRope cos', cos.shape, [1, headDim]);
  assertShape('fusedRope sin', sin.shape, [1, headDim]);
  const program = elementwiseProgram(['X', 'Cos', 'Sin'], [heads, headDim], 'c2lRope', `
        let headDim = uniforms.xShape.y;
        let half = headDim / 2;
        let i = flat % headDim;
        var rotated = 0.0;
        if (i < half) { rotated = -X[flat + half]; } else { rotated = X[flat - half]; }
        result[flat] = X[flat] * Cos[i] + rotated * Sin[i];`);
  return run(program, [x, cos, sin]) as tf.Tensor2D;
}

/** SwiGLU's silu(gate)·up = gate·sigmoid(gate)·up elementwise, in one dispatch instead of three. */
export function fusedSwiGlu(gate: tf.Tensor2D, up: tf.Tensor2D): tf.Tensor2D {
  assertShape('fusedSwiGlu up', up.shape, gate.shape);
  const program = elementwiseProgram(['Gate', 'Up'], gate.shape, 'c2lSwiGlu', `
        let g = Gate[flat];
        result[flat] = g * (1.0 / (1.0 + exp(-g))) * Up[flat];`);
  return run(program, [gate, up]) as tf.Tensor2D;
}

/** The context kernel lays its threads out as fusedLinear's 64 columns x 4 slices. */
const ATTENTION_THREADS = COLUMNS * SLICES;

/**
 * Attention of one query per head over the whole KV cache, in two dispatches: scores q·k/sqrt(headDim) for every head
 * and position, then per head a softmax and the weighted sum of values. queries [numHeads, headDim] (RoPE applied),
 * keys [numKvHeads, headDim, length] and values [numKvHeads, length, headDim] as KVCache holds them; query head h reads
 * kv head floor(h / (numHeads / numKvHeads)), as transformers' repeat_kv. Returns [1, numHeads * headDim], heads in order.
 */
export function fusedDecodeAttention(queries: tf.Tensor2D, keys: tf.Tensor3D, values: tf.Tensor3D): tf.Tensor2D {
  const [numHeads, headDim] = queries.shape;
  const [numKvHeads, , length] = keys.shape;
  assertShape('fusedDecodeAttention keys', keys.shape, [numKvHeads, headDim, length]);
  assertShape('fusedDecodeAttention values', values.shape, [numKvHeads, length, headDim]);
  if (numHeads % numKvHeads !== 0) throw new RangeError(`${numHeads} query heads do not group evenly over ${numKvHeads} kv heads`);
  const scoresProgram: WebGpuProgram = {
    variableNames: ['Q', 'K'],
    outputShape: [numHeads, length],
    shaderKey: 'c2lDecodeAttentionScores',
    dispatchLayout: { x: [0, 1] },
    dispatch: [Math.ceil((numHeads * length) / ATTENTION_THREADS), 1, 1],
    workgroupSize: [ATTENTION_THREADS, 1, 1],
    uniforms: 'scale : f32,',
    getUserCode: () => `
      ${MAIN} {
        let numHeads = uniforms.qShape.x;
        let headDim = uniforms.qShape.y;
        let numKvHeads = uniforms.kShape.x;
        let positions = uniforms.kShape.z;
        let flat = ${WORKGROUP_INDEX} * ${ATTENTION_THREADS} + i32(localIndex);
        if (flat >= numHeads * positions) { return; }
        let head = flat / positions;
        let position = flat % positions;
        let kvHead = head / (numHeads / numKvHeads);
        var score = 0.0;
        for (var t = 0; t < headDim; t++) {
          score += Q[head * headDim + t] * K[(kvHead * headDim + t) * positions + position];
        }
        result[flat] = score * uniforms.scale;
      }`,
  };
  const scores = run(scoresProgram, [queries, keys], [{ type: 'float32', data: [1 / Math.sqrt(headDim)] }]);
  // Weighted sum: threads form 64 output columns x 4 slices of positions; softmax max and sum reduce in workgroup memory.
  const contextProgram: WebGpuProgram = {
    variableNames: ['Scores', 'V'],
    outputShape: [1, numHeads * headDim],
    shaderKey: 'c2lDecodeAttentionContext',
    dispatchLayout: { x: [0, 1] },
    dispatch: [numHeads, 1, 1],
    workgroupSize: [ATTENTION_THREADS, 1, 1],
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${ATTENTION_THREADS}>;
      fn reduceMax(value : f32) -> f32 {
        partial[localIndex] = value;
        workgroupBarrier();
        for (var stride = ${ATTENTION_THREADS / 2}u; stride > 0u; stride = stride / 2u) {
          if (localIndex < stride) { partial[localIndex] = max(partial[localIndex], partial[localIndex + stride]); }
          workgroupBarrier();
        }
        let reduced = partial[0];
        workgroupBarrier();
        return reduced;
      }
      fn reduceSum(value : f32) -> f32 {
        partial[localIndex] = value;
        workgroupBarrier();
        for (var stride = ${ATTENTION_THREADS / 2}u; stride > 0u; stride = stride / 2u) {
          if (localIndex < stride) { partial[localIndex] = partial[localIndex] + partial[localIndex + stride]; }
          workgroupBarrier();
        }
        let reduced = partial[0];
        workgroupBarrier();
        return reduced;
      }
      ${MAIN} {
        let numHeads = uniforms.scoresShape.x;
        let positions = uniforms.scoresShape.y;
        let numKvHeads = uniforms.vShape.x;
        let headDim = uniforms.vShape.z;
        let head = ${WORKGROUP_INDEX};
        let kvHead = head / (numHeads / numKvHeads);
        let row = head * positions;
        var localMax = -3.402823e38;
        for (var s = i32(localIndex); s < positions; s += ${ATTENTION_THREADS}) { localMax = max(localMax, Scores[row + s]); }
        let maxScore = reduceMax(localMax);
        var localSum = 0.0;
        for (var s = i32(localIndex); s < positions; s += ${ATTENTION_THREADS}) { localSum += exp(Scores[row + s] - maxScore); }
        let total = reduceSum(localSum);
        let column = i32(localIndex % ${COLUMNS}u);
        let slice = i32(localIndex / ${COLUMNS}u);
        for (var columnStart = 0; columnStart < headDim; columnStart += ${COLUMNS}) {
          let t = columnStart + column;
          var acc = 0.0;
          if (t < headDim) {
            for (var s = slice; s < positions; s += ${SLICES}) {
              acc += exp(Scores[row + s] - maxScore) / total * V[(kvHead * positions + s) * headDim + t];
            }
          }
          partial[localIndex] = acc;
          workgroupBarrier();
          if (slice == 0 && t < headDim) { result[head * headDim + t] = ${sumOfSlices('column')}; }
          workgroupBarrier();
        }
      }`,
  };
  const context = run(contextProgram, [scores, values]) as tf.Tensor2D;
  scores.dispose();
  return context;
}
