// AssemblyScript source of the WASM SIMD kernel behind src/model/quantizedMatMul.ts: matrix products over ggml's
// Q4_1 and Q8_0 weight blocks, so linear layers on the WASM backend never hold their weights as float32.
// Compiled by `npm run build:kernels` into src/model/quantizedMatMulWasm.ts (test/quantizedMatMul.test.ts checks the
// committed bytes are what this source compiles to).
//
// Memory is the host's (imported): it places the weights, the activations x [tokens, columns] and the output
// y [tokens, rows], all float32 and 16-byte aligned. A weight matrix W [rows, columns] (Hugging Face's [out, in]) is
// two planes, each row's blocks of 32 columns contiguous:
//   Q4_1: quants, 16 bytes a block (byte j: column j in its low nibble, column j + 16 in its high one, as ggml packs
//         them); scales, two float32 a block, d then m. W[r, c] = f32(d * q) + m.
//   Q8_0: quants, 32 int8 a block; scales, one float32 d a block. W[r, c] = d * q.
// Every weight is widened exactly as dequantizeGgufTensor does (same float32 operations), so a product differs from
// dequantize-then-matmul only in the order of its additions.
//
// y[t, r] = sum over c of x[t, c] * W[r, c]. For eight tokens at a time (prefill), each block's weights are widened
// once per row into scratch and used for all eight rows of x; the other tokens (decode, and a prompt's last few) take
// the one-token path, which widens straight into the products, with the block's scales factored out.

const BLOCK: i32 = 32;

/** Sum of the four lanes. */
@inline function horizontalSum(v: v128): f32 {
  return (f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1)) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * Four unsigned 8-bit lanes below 128 (from lane `quarter` * 4 of `bytes`) as float32. Converted as signed: the same
 * values, and one instruction on x86 where an unsigned conversion takes several.
 */
@inline function u7QuarterToF32(bytes: v128, quarter: i32): v128 {
  const halves = quarter < 2 ? i16x8.extend_low_i8x16_u(bytes) : i16x8.extend_high_i8x16_u(bytes);
  const words = (quarter & 1) == 0 ? i32x4.extend_low_i16x8_u(halves) : i32x4.extend_high_i16x8_u(halves);
  return f32x4.convert_i32x4_s(words);
}

/** Four signed 8-bit lanes (from lane `quarter` * 4 of `bytes`) as float32. */
@inline function i8QuarterToF32(bytes: v128, quarter: i32): v128 {
  const halves = quarter < 2 ? i16x8.extend_low_i8x16_s(bytes) : i16x8.extend_high_i8x16_s(bytes);
  const words = (quarter & 1) == 0 ? i32x4.extend_low_i16x8_s(halves) : i32x4.extend_high_i16x8_s(halves);
  return f32x4.convert_i32x4_s(words);
}

/**
 * The eight float32x4 weights of one block, widened into `out` (8 x 16 bytes): group k holds columns 4k..4k+3.
 * Q4_1 and Q8_0 share everything after this.
 */
@inline function widenQ4_1Block(quants: usize, scales: usize, out: usize): void {
  const d = v128.load32_splat(scales);
  const m = v128.load32_splat(scales, 4);
  const packed = v128.load(quants);
  const low = v128.and(packed, i8x16.splat(0x0f));
  const high = i8x16.shr_u(packed, 4);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(low, 0)), m), 0);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(low, 1)), m), 16);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(low, 2)), m), 32);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(low, 3)), m), 48);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(high, 0)), m), 64);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(high, 1)), m), 80);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(high, 2)), m), 96);
  v128.store(out, f32x4.add(f32x4.mul(d, u7QuarterToF32(high, 3)), m), 112);
}

@inline function widenQ8_0Block(quants: usize, scales: usize, out: usize): void {
  const d = v128.load32_splat(scales);
  const first = v128.load(quants);
  const second = v128.load(quants, 16);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(first, 0)), 0);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(first, 1)), 16);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(first, 2)), 32);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(first, 3)), 48);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(second, 0)), 64);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(second, 1)), 80);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(second, 2)), 96);
  v128.store(out, f32x4.mul(d, i8QuarterToF32(second, 3)), 112);
}

/** acc + the block's 32 widened weights (at `w`) times x's 32 values (at `x`), lane-wise. */
@inline function blockDot(acc: v128, w: usize, x: usize): v128 {
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 0), v128.load(x, 0)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 16), v128.load(x, 16)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 32), v128.load(x, 32)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 48), v128.load(x, 48)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 64), v128.load(x, 64)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 80), v128.load(x, 80)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 96), v128.load(x, 96)));
  acc = f32x4.add(acc, f32x4.mul(v128.load(w, 112), v128.load(x, 112)));
  return acc;
}

/** Bytes 4k..4k+3 of a vector, each moved into the lowest byte of its own 32-bit lane (the rest zero). */
const LOW_BYTE_LANES_0: v128 = i8x16(0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 3, -1, -1, -1);
const LOW_BYTE_LANES_1: v128 = i8x16(4, -1, -1, -1, 5, -1, -1, -1, 6, -1, -1, -1, 7, -1, -1, -1);
const LOW_BYTE_LANES_2: v128 = i8x16(8, -1, -1, -1, 9, -1, -1, -1, 10, -1, -1, -1, 11, -1, -1, -1);
const LOW_BYTE_LANES_3: v128 = i8x16(12, -1, -1, -1, 13, -1, -1, -1, 14, -1, -1, -1, 15, -1, -1, -1);
/** The same into the highest byte of each lane, so an arithmetic shift right by 24 sign-extends it. */
const HIGH_BYTE_LANES_0: v128 = i8x16(-1, -1, -1, 0, -1, -1, -1, 1, -1, -1, -1, 2, -1, -1, -1, 3);
const HIGH_BYTE_LANES_1: v128 = i8x16(-1, -1, -1, 4, -1, -1, -1, 5, -1, -1, -1, 6, -1, -1, -1, 7);
const HIGH_BYTE_LANES_2: v128 = i8x16(-1, -1, -1, 8, -1, -1, -1, 9, -1, -1, -1, 10, -1, -1, -1, 11);
const HIGH_BYTE_LANES_3: v128 = i8x16(-1, -1, -1, 12, -1, -1, -1, 13, -1, -1, -1, 14, -1, -1, -1, 15);

/** sum + (columns 4k..4k+3 and 16+4k..16+4k+3 of a Q4_1 block's quants, `lanes` picking byte group k) times x. */
@inline function nibblePairDot(sum: v128, packed: v128, lanes: v128, x: usize, k: i32): v128 {
  const bytes = i8x16.swizzle(packed, lanes);
  sum = f32x4.add(sum, f32x4.mul(f32x4.convert_i32x4_s(v128.and(bytes, i32x4.splat(0x0f))), v128.load(x + (<usize>k << 4))));
  return f32x4.add(sum, f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_u(bytes, 4)), v128.load(x + 64 + (<usize>k << 4))));
}

/** sum + columns 4k..4k+3 of a Q8_0 block's quants (the 16 bytes `half` holds, `lanes` picking group k) times x. */
@inline function int8QuadDot(sum: v128, half: v128, lanes: v128, x: usize): v128 {
  return f32x4.add(sum, f32x4.mul(f32x4.convert_i32x4_s(i32x4.shr_s(i8x16.swizzle(half, lanes), 24)), v128.load(x)));
}

/**
 * The one-token path: one row's dot product with x over all its blocks, d and m factored out of each block,
 * sum_b d_b (q_b . x_b) + m_b sum(x_b), with the block sums of x (`xSums`, one float32 a block) computed once per call.
 */
@inline function rowDotQ4_1(quants: usize, scales: usize, x: usize, xSums: usize, blocks: i32): f32 {
  let acc = f32x4.splat(0);
  let offsets: f32 = 0;
  for (let b = 0; b < blocks; b++) {
    const packed = v128.load(quants);
    let sum = f32x4.splat(0);
    sum = nibblePairDot(sum, packed, LOW_BYTE_LANES_0, x, 0);
    sum = nibblePairDot(sum, packed, LOW_BYTE_LANES_1, x, 1);
    sum = nibblePairDot(sum, packed, LOW_BYTE_LANES_2, x, 2);
    sum = nibblePairDot(sum, packed, LOW_BYTE_LANES_3, x, 3);
    acc = f32x4.add(acc, f32x4.mul(sum, v128.load32_splat(scales)));
    offsets += load<f32>(scales, 4) * load<f32>(xSums);
    quants += 16;
    scales += 8;
    x += BLOCK << 2;
    xSums += 4;
  }
  return horizontalSum(acc) + offsets;
}

/** rowDotQ4_1 for Q8_0: sum_b d_b (q_b . x_b). */
@inline function rowDotQ8_0(quants: usize, scales: usize, x: usize, blocks: i32): f32 {
  let acc = f32x4.splat(0);
  for (let b = 0; b < blocks; b++) {
    const first = v128.load(quants);
    const second = v128.load(quants, 16);
    let sum = f32x4.splat(0);
    sum = int8QuadDot(sum, first, HIGH_BYTE_LANES_0, x);
    sum = int8QuadDot(sum, first, HIGH_BYTE_LANES_1, x + 16);
    sum = int8QuadDot(sum, first, HIGH_BYTE_LANES_2, x + 32);
    sum = int8QuadDot(sum, first, HIGH_BYTE_LANES_3, x + 48);
    sum = int8QuadDot(sum, second, HIGH_BYTE_LANES_0, x + 64);
    sum = int8QuadDot(sum, second, HIGH_BYTE_LANES_1, x + 80);
    sum = int8QuadDot(sum, second, HIGH_BYTE_LANES_2, x + 96);
    sum = int8QuadDot(sum, second, HIGH_BYTE_LANES_3, x + 112);
    acc = f32x4.add(acc, f32x4.mul(sum, v128.load32_splat(scales)));
    quants += 32;
    scales += 4;
    x += BLOCK << 2;
  }
  return horizontalSum(acc);
}

/**
 * y = x W^T for one weight format. `widened` is scratch: 128 bytes for one block's float32 weights (the engine keeps
 * it in cache, and reading it back costs less than widening the block again for every token), then, for Q4_1, one
 * float32 per block and token.
 */
@inline function matMul(
  isQ4_1: bool, quants: usize, scales: usize, x: usize, y: usize, rows: i32, columns: i32, tokens: i32, widened: usize,
): void {
  const blocks = columns / BLOCK;
  // The one-token path's block sums of x, [tokens, blocks] after the widened block (Q4_1 only).
  const xSums = widened + 128;
  if (isQ4_1) {
    for (let t = 0; t < tokens; t++) {
      for (let b = 0; b < blocks; b++) {
        const at = x + ((<usize>t * <usize>columns + <usize>b * BLOCK) << 2);
        let sum = f32x4.add(f32x4.add(v128.load(at), v128.load(at, 16)), f32x4.add(v128.load(at, 32), v128.load(at, 48)));
        sum = f32x4.add(sum, f32x4.add(f32x4.add(v128.load(at, 64), v128.load(at, 80)), f32x4.add(v128.load(at, 96), v128.load(at, 112))));
        store<f32>(xSums + ((<usize>t * <usize>blocks + <usize>b) << 2), horizontalSum(sum));
      }
    }
  }
  const quantBytes: usize = isQ4_1 ? 16 : 32;
  const scaleBytes: usize = isQ4_1 ? 8 : 4;
  const xRowBytes = <usize>columns << 2;
  for (let r = 0; r < rows; r++) {
    const rowQuants = quants + <usize>r * <usize>blocks * quantBytes;
    const rowScales = scales + <usize>r * <usize>blocks * scaleBytes;
    let t = 0;
    for (; t + 8 <= tokens; t += 8) {
      let acc0 = f32x4.splat(0);
      let acc1 = f32x4.splat(0);
      let acc2 = f32x4.splat(0);
      let acc3 = f32x4.splat(0);
      let acc4 = f32x4.splat(0);
      let acc5 = f32x4.splat(0);
      let acc6 = f32x4.splat(0);
      let acc7 = f32x4.splat(0);
      let x0 = x + <usize>t * xRowBytes;
      for (let b = 0; b < blocks; b++) {
        if (isQ4_1) widenQ4_1Block(rowQuants + <usize>b * 16, rowScales + <usize>b * 8, widened);
        else widenQ8_0Block(rowQuants + <usize>b * 32, rowScales + <usize>b * 4, widened);
        acc0 = blockDot(acc0, widened, x0);
        acc1 = blockDot(acc1, widened, x0 + xRowBytes);
        acc2 = blockDot(acc2, widened, x0 + 2 * xRowBytes);
        acc3 = blockDot(acc3, widened, x0 + 3 * xRowBytes);
        acc4 = blockDot(acc4, widened, x0 + 4 * xRowBytes);
        acc5 = blockDot(acc5, widened, x0 + 5 * xRowBytes);
        acc6 = blockDot(acc6, widened, x0 + 6 * xRowBytes);
        acc7 = blockDot(acc7, widened, x0 + 7 * xRowBytes);
        x0 += BLOCK << 2;
      }
      const out = y + ((<usize>t * <usize>rows + <usize>r) << 2);
      const rowStride = <usize>rows << 2;
      store<f32>(out, horizontalSum(acc0));
      store<f32>(out + rowStride, horizontalSum(acc1));
      store<f32>(out + 2 * rowStride, horizontalSum(acc2));
      store<f32>(out + 3 * rowStride, horizontalSum(acc3));
      store<f32>(out + 4 * rowStride, horizontalSum(acc4));
      store<f32>(out + 5 * rowStride, horizontalSum(acc5));
      store<f32>(out + 6 * rowStride, horizontalSum(acc6));
      store<f32>(out + 7 * rowStride, horizontalSum(acc7));
    }
    for (; t < tokens; t++) {
      const xRow = x + <usize>t * xRowBytes;
      const out = y + ((<usize>t * <usize>rows + <usize>r) << 2);
      if (isQ4_1) store<f32>(out, rowDotQ4_1(rowQuants, rowScales, xRow, xSums + <usize>t * <usize>blocks * 4, blocks));
      else store<f32>(out, rowDotQ8_0(rowQuants, rowScales, xRow, blocks));
    }
  }
}

/** y [tokens, rows] = x [tokens, columns] W^T, W in Q4_1 planes; `columns` a multiple of 32. */
export function matMulQ4_1(quants: usize, scales: usize, x: usize, y: usize, rows: i32, columns: i32, tokens: i32, widened: usize): void {
  matMul(true, quants, scales, x, y, rows, columns, tokens, widened);
}

/** y [tokens, rows] = x [tokens, columns] W^T, W in Q8_0 planes; `columns` a multiple of 32. */
export function matMulQ8_0(quants: usize, scales: usize, x: usize, y: usize, rows: i32, columns: i32, tokens: i32, widened: usize): void {
  matMul(false, quants, scales, x, y, rows, columns, tokens, widened);
}

/** Writes the rows of W listed in `rowIds` (`count` i32 row indices) as float32 rows [count, columns] into `out`. */
export function gatherRows(isQ4_1: bool, quants: usize, scales: usize, columns: i32, rowIds: usize, count: i32, out: usize): void {
  const blocks = columns / BLOCK;
  const quantBytes: usize = isQ4_1 ? 16 : 32;
  const scaleBytes: usize = isQ4_1 ? 8 : 4;
  for (let i = 0; i < count; i++) {
    const row = <usize>load<i32>(rowIds + (<usize>i << 2));
    for (let b = 0; b < blocks; b++) {
      const at = row * <usize>blocks + <usize>b;
      const into = out + ((<usize>i * <usize>columns + <usize>b * BLOCK) << 2);
      if (isQ4_1) widenQ4_1Block(quants + at * quantBytes, scales + at * scaleBytes, into);
      else widenQ8_0Block(quants + at * quantBytes, scales + at * scaleBytes, into);
    }
  }
}

/**
 * Writes all of W transposed, as float32 [columns, rows], into `out`: the [in, out] kernel tfjs multiplies fastest,
 * for products with many tokens, where XNNPACK's float32 GEMM beats widening every block once per four tokens.
 */
export function widenTransposed(isQ4_1: bool, quants: usize, scales: usize, rows: i32, columns: i32, widened: usize, out: usize): void {
  const blocks = columns / BLOCK;
  const quantBytes: usize = isQ4_1 ? 16 : 32;
  const scaleBytes: usize = isQ4_1 ? 8 : 4;
  const rowStride = <usize>rows << 2;
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < blocks; b++) {
      const at = <usize>r * <usize>blocks + <usize>b;
      if (isQ4_1) widenQ4_1Block(quants + at * quantBytes, scales + at * scaleBytes, widened);
      else widenQ8_0Block(quants + at * quantBytes, scales + at * scaleBytes, widened);
      let into = out + ((<usize>b * BLOCK * <usize>rows + <usize>r) << 2);
      for (let j = 0; j < BLOCK; j++) {
        store<f32>(into, load<f32>(widened + (<usize>j << 2)));
        into += rowStride;
      }
    }
  }
}

/**
 * y [tokens, rows] += (x [tokens, columns] down) up: an unmerged LoRA term, with down = A^T [columns, rank] and
 * up = (alpha / r) B^T [rank, rows] as prepareLora makes them, added to a product the kernel computed. `hidden` is
 * scratch for one token's rank values.
 */
export function addLowRank(x: usize, down: usize, up: usize, y: usize, tokens: i32, columns: i32, rank: i32, rows: i32, hidden: usize): void {
  const rankEnd = rank & ~3;
  const rowsEnd = rows & ~3;
  for (let t = 0; t < tokens; t++) {
    const xRow = x + ((<usize>t * <usize>columns) << 2);
    memory.fill(hidden, 0, <usize>rank << 2);
    for (let c = 0; c < columns; c++) {
      const xc = load<f32>(xRow + (<usize>c << 2));
      const downRow = down + ((<usize>c * <usize>rank) << 2);
      const splat = f32x4.splat(xc);
      let r = 0;
      for (; r < rankEnd; r += 4) {
        const at = <usize>r << 2;
        v128.store(hidden + at, f32x4.add(v128.load(hidden + at), f32x4.mul(splat, v128.load(downRow + at))));
      }
      for (; r < rank; r++) store<f32>(hidden + (<usize>r << 2), load<f32>(hidden + (<usize>r << 2)) + xc * load<f32>(downRow + (<usize>r << 2)));
    }
    const yRow = y + ((<usize>t * <usize>rows) << 2);
    for (let r = 0; r < rank; r++) {
      const h = load<f32>(hidden + (<usize>r << 2));
      const upRow = up + ((<usize>r * <usize>rows) << 2);
      const splat = f32x4.splat(h);
      let o = 0;
      for (; o < rowsEnd; o += 4) {
        const at = <usize>o << 2;
        v128.store(yRow + at, f32x4.add(v128.load(yRow + at), f32x4.mul(splat, v128.load(upRow + at))));
      }
      for (; o < rows; o++) store<f32>(yRow + (<usize>o << 2), load<f32>(yRow + (<usize>o << 2)) + h * load<f32>(upRow + (<usize>o << 2)));
    }
  }
}
