// AssemblyScript source of the WASM SIMD kernel behind src/model/decodeAttention.ts: the attention of one new token
// over the KV cache, for the WASM backend's decode steps. tfjs-wasm runs the batched matmuls of attention on its own
// scalar loops (one head per kv group at a time, ~0.6 GFLOP/s), which made attention over a 2,000-token cache cost
// more than all the linear layers of a decode step; here each cached key and value row is read once per kv head.
// Compiled by `npm run build:kernels` into src/model/decodeAttentionWasm.ts (a unit test checks the committed bytes).
//
// Memory is the host's (imported). Below `dataEnd()` it holds the kernel's own constants (Mathf.exp's table); the
// host places these after it, float32, 16-byte aligned:
//   q      [numHeads, headDim]                    the new token's queries, RoPE applied
//   keys   [numKvHeads, headDim, length]          as KVCache holds them (transposed, ready for q·K)
//   values [numKvHeads, length, headDim]
//   scores [group, length]                        scratch (group = numHeads / numKvHeads)
//   out    [numHeads, headDim]
// Query head h reads kv head floor(h / group), as transformers' repeat_kv has it. The operations are those of the
// tfjs path (scores = (q·K) * scale, softmax as exp(s - max) / sum, then probabilities · V) in another order of
// additions.

/** Where the kernel's static data ends: the host's buffers go after it. */
export function dataEnd(): usize {
  return __heap_base;
}

/** out = softmax((q·K) * scale) · V for every query head. headDim must be a multiple of 4. */
export function decodeAttention(
  q: usize, keys: usize, values: usize, scores: usize, out: usize,
  numHeads: i32, numKvHeads: i32, headDim: i32, length: i32, scale: f32,
): void {
  const group = numHeads / numKvHeads;
  const vectorEnd = length & ~3;
  for (let kv = 0; kv < numKvHeads; kv++) {
    const firstHead = kv * group;
    const keyHead = keys + ((<usize>(kv * headDim) * length) << 2);
    // Scores, four positions at a time: the head's key rows j (positions contiguous) read once for every group head.
    for (let g = 0; g < group; g++) {
      const qRow = q + (<usize>((firstHead + g) * headDim) << 2);
      const row = scores + (<usize>(g * length) << 2);
      let t = 0;
      for (; t < vectorEnd; t += 4) {
        let sum = f32x4.splat(0);
        let keyAt = keyHead + (<usize>t << 2);
        for (let j = 0; j < headDim; j++) {
          sum = f32x4.add(sum, f32x4.mul(v128.load32_splat(qRow + (<usize>j << 2)), v128.load(keyAt)));
          keyAt += <usize>length << 2;
        }
        v128.store(row + (<usize>t << 2), sum);
      }
      for (; t < length; t++) {
        let sum: f32 = 0;
        for (let j = 0; j < headDim; j++) sum += load<f32>(qRow + (<usize>j << 2)) * load<f32>(keyHead + ((<usize>(j * length + t)) << 2));
        store<f32>(row + (<usize>t << 2), sum);
      }
    }
    // Softmax of each head's scaled scores, in place.
    for (let g = 0; g < group; g++) {
      const row = scores + (<usize>(g * length) << 2);
      let max = -Infinity as f32;
      for (let t = 0; t < length; t++) {
        const s = load<f32>(row + (<usize>t << 2)) * scale;
        store<f32>(row + (<usize>t << 2), s);
        if (s > max) max = s;
      }
      let sum: f32 = 0;
      for (let t = 0; t < length; t++) {
        const e = Mathf.exp(load<f32>(row + (<usize>t << 2)) - max);
        store<f32>(row + (<usize>t << 2), e);
        sum += e;
      }
      for (let t = 0; t < length; t++) store<f32>(row + (<usize>t << 2), load<f32>(row + (<usize>t << 2)) / sum);
    }
    // Context, four output dimensions at a time: each value row's slice read once for every group head.
    const valueHead = values + ((<usize>(kv * length) * headDim) << 2);
    for (let g = 0; g < group; g++) {
      const row = scores + (<usize>(g * length) << 2);
      const outRow = out + (<usize>((firstHead + g) * headDim) << 2);
      for (let c = 0; c < headDim; c += 16) {
        // Sixteen dimensions (four vectors) per pass when headDim allows, else four.
        if (c + 16 <= headDim) {
          let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
          let valueAt = valueHead + (<usize>c << 2);
          for (let t = 0; t < length; t++) {
            const p = v128.load32_splat(row + (<usize>t << 2));
            a0 = f32x4.add(a0, f32x4.mul(p, v128.load(valueAt)));
            a1 = f32x4.add(a1, f32x4.mul(p, v128.load(valueAt, 16)));
            a2 = f32x4.add(a2, f32x4.mul(p, v128.load(valueAt, 32)));
            a3 = f32x4.add(a3, f32x4.mul(p, v128.load(valueAt, 48)));
            valueAt += <usize>headDim << 2;
          }
          v128.store(outRow + (<usize>c << 2), a0);
          v128.store(outRow + (<usize>c << 2), a1, 16);
          v128.store(outRow + (<usize>c << 2), a2, 32);
          v128.store(outRow + (<usize>c << 2), a3, 48);
        } else {
          for (let c4 = c; c4 < headDim; c4 += 4) {
            let a = f32x4.splat(0);
            let valueAt = valueHead + (<usize>c4 << 2);
            for (let t = 0; t < length; t++) {
              a = f32x4.add(a, f32x4.mul(v128.load32_splat(row + (<usize>t << 2)), v128.load(valueAt)));
              valueAt += <usize>headDim << 2;
            }
            v128.store(outRow + (<usize>c4 << 2), a);
          }
        }
      }
    }
  }
}
