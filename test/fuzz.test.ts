// Seeded fuzzing of every file format the app reads from the internet: safetensors, GGUF, config.json, tokenizer.json,
// adapter_config.json, hypernetwork_config.json, and a git server's pkt-line ref advertisement and packfile.
//
// Each case mutates a valid file (bit flips, truncation, huge declared lengths, counts and shapes, wrong dtypes and
// types, negative and non-finite numbers, deep nesting) and runs the project's own loader on it. A case passes when the
// loader returns something self-consistent or throws the format's typed error with a message, within a time bound, and
// without asking for any buffer larger than a fixed limit (a declared length larger than the file must be refused
// before allocating). Seeds are fixed: a failure names its format and case number and reproduces exactly.
import http from 'isomorphic-git/http/node';
import type { GitHttpRequest, GitHttpResponse, HttpClient } from 'isomorphic-git';
import * as fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { HypernetworkLoadError } from '../src/code2lora/errors.ts';
import { heldShape, hypernetworkWeightShapes, type HypernetworkConfig } from '../src/code2lora/hypernetwork.ts';
import { loadHypernetwork } from '../src/code2lora/loadHypernetwork.ts';
import { cloneRepository, GitError } from '../src/git/index.ts';
import { initBackend } from '../src/model/backend.ts';
import { ModelConfigError, parseModelConfig, type ModelConfig } from '../src/model/config.ts';
import { dequantizeGgufTensor, GgufError, hfConfigFromGguf, parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import { linearShape } from '../src/model/llama.ts';
import { exportPeftAdapter, importPeftAdapter, LoraError, randomLoraAdapter } from '../src/model/lora.ts';
import { parseSafetensors, SafetensorsError, streamSafetensors, toFloat32, writeSafetensors } from '../src/model/safetensors.ts';
import { makeSynthRepos } from '../src/synth/writeGitRepo.ts';
import { BpeTokenizer } from '../src/tokenizer/bpeTokenizer.ts';
import { BYTE_TO_CHAR } from '../src/tokenizer/byteLevel.ts';
import { TokenizerLoadError } from '../src/tokenizer/errors.ts';
import { seededUniform } from '../src/util/random.ts';
import { writeGguf, type MetadataEntry } from './fixtures/ggufWriter.ts';
import { tinyConfig } from './fixtures/tinyModel.ts';
import { startGitHttpServer } from './support/gitHttpServer.ts';

// Each case is bounded by CPU time below; the wall clock only bounds a run reniced behind busy cores, so it is generous.
vi.setConfig({ testTimeout: 900_000, hookTimeout: 900_000 });

type Random = () => number;
const below = (random: Random, limit: number) => Math.floor(random() * limit);
const pick = <T>(random: Random, items: readonly T[]): T => items[below(random, items.length)];

// ---- the harness: allocation limit, time bound, outcome counts ----

/** No case may ask for more than this in one buffer or array (the inputs are a few kilobytes). */
const ALLOCATION_LIMIT_BYTES = 64 * 1024 * 1024;
/**
 * CPU time, not wall time (a reniced run on a busy machine waits for the CPU far longer than it computes); a parser
 * that loops on a declared count or backtracks without end takes far longer.
 */
const CASE_CPU_LIMIT_MS = 1_000;
const cpuMs = () => {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
};

class AllocationRefused extends Error {}

const ELEMENT_BYTES: Record<string, number> = {
  ArrayBuffer: 1, SharedArrayBuffer: 1, Uint8Array: 1, Uint8ClampedArray: 1, Int8Array: 1, Uint16Array: 2, Int16Array: 2,
  Uint32Array: 4, Int32Array: 4, Float32Array: 4, Float64Array: 8, BigInt64Array: 8, BigUint64Array: 8, Array: 8,
};

/**
 * Replaces the global buffer and array constructors with proxies that refuse (throw AllocationRefused) any allocation by
 * length over ALLOCATION_LIMIT_BYTES while `armed`; instances stay the real classes (instanceof keeps working).
 */
function installAllocationGuard(): { armed: boolean; largest: number; restore: () => void } {
  const globals = globalThis as unknown as Record<string, unknown>;
  const originals = Object.keys(ELEMENT_BYTES).map((name) => [name, globals[name]] as const);
  const guard = {
    armed: false,
    largest: 0,
    restore: () => originals.forEach(([name, original]) => { globals[name] = original; }),
  };
  for (const [name, original] of originals) {
    globals[name] = new Proxy(original as new (...args: unknown[]) => object, {
      construct(target, args, newTarget) {
        if (guard.armed && typeof args[0] === 'number') {
          const bytes = args[0] * ELEMENT_BYTES[name];
          guard.largest = Math.max(guard.largest, bytes);
          if (bytes > ALLOCATION_LIMIT_BYTES) throw new AllocationRefused(`new ${name}(${args[0]}): ${bytes} bytes`);
        }
        return Reflect.construct(target, args, newTarget === globals[name] ? target : newTarget);
      },
    });
  }
  return guard;
}

interface Outcomes { accepted: number; rejected: number; slowestCpuMs: number; codes: Map<string, number> }

/**
 * Runs `cases` seeded cases of one format. `load` gets the case's random source and runs the loader on a mutated
 * file; it returns normally (the loader accepted the file and the result checked out) or throws. A throw must pass
 * `isTyped` and carry a message; anything else, a slow case or a refused allocation fails the test with the case number.
 */
async function fuzz(
  format: string, seed: number, cases: number, load: (random: Random) => unknown,
  isTyped: (error: unknown) => error is TypedError,
): Promise<Outcomes> {
  const outcomes: Outcomes = { accepted: 0, rejected: 0, slowestCpuMs: 0, codes: new Map() };
  const guard = installAllocationGuard();
  try {
    for (let i = 0; i < cases; i++) {
      const random = seededUniform(seed * 100_003 + i);
      const started = cpuMs();
      let failure: unknown = null;
      guard.armed = true;
      try {
        await load(random);
        outcomes.accepted++;
      } catch (error) {
        failure = error;
      } finally {
        guard.armed = false;
      }
      const elapsed = cpuMs() - started;
      outcomes.slowestCpuMs = Math.max(outcomes.slowestCpuMs, elapsed);
      const where = `${format} case ${i} (seed ${seed})`;
      if (elapsed > CASE_CPU_LIMIT_MS) throw new Error(`${where} took ${elapsed.toFixed(0)} ms of CPU`);
      if (failure === null) continue;
      if (!isTyped(failure)) throw new Error(`${where} threw ${String((failure as Error)?.stack ?? failure)}`);
      if (failure.message.trim().length < 8) throw new Error(`${where}: ${failure.name} ${failure.code} says too little: "${failure.message}"`);
      outcomes.rejected++;
      outcomes.codes.set(failure.code, (outcomes.codes.get(failure.code) ?? 0) + 1);
    }
  } finally {
    guard.restore();
  }
  return outcomes;
}

type TypedError = Error & { code: string };
const typed = (...classes: Array<abstract new (...args: never[]) => TypedError>) =>
  (error: unknown): error is TypedError => classes.some((c) => error instanceof c);

// ---- mutations ----

const HUGE_U64 = [2n ** 32n - 1n, 2n ** 40n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 0n];
const ODD_U32 = [0, 1, 2, 7, 13, 31, 99, 0x7fffffff, 0xffffffff];

/** Byte-level damage anywhere in `file`, or within [from, to) where the format's fields are. */
function mutateBytes(base: Uint8Array, random: Random, from = 0, to = base.length): Uint8Array {
  const file = base.slice();
  const view = new DataView(file.buffer);
  const at = (room = 1) => from + below(random, Math.max(1, Math.min(to, file.length) - from - room + 1));
  switch (below(random, 8)) {
    case 0: for (let n = below(random, 8) + 1; n > 0; n--) file[at()] ^= 1 << below(random, 8); return file;
    case 1: for (let n = below(random, 4) + 1; n > 0; n--) file[at()] = below(random, 256); return file;
    case 2: return file.subarray(0, below(random, file.length));
    case 3: { // insert bytes
      const p = at();
      const extra = Uint8Array.from({ length: below(random, 16) + 1 }, () => below(random, 256));
      return Uint8Array.from([...file.subarray(0, p), ...extra, ...file.subarray(p)]);
    }
    case 4: { // delete a run
      const p = at();
      return Uint8Array.from([...file.subarray(0, p), ...file.subarray(p + below(random, 16) + 1)]);
    }
    case 5: if (file.length >= 8) view.setBigUint64(at(8), pick(random, HUGE_U64), true); return file; // a huge length, count or offset
    case 6: if (file.length >= 4) view.setUint32(at(4), pick(random, ODD_U32), true); return file; // an odd type, dim count or version
    default: { // copy a run over another
      const source = at();
      file.copyWithin(at(), source, source + below(random, 24) + 1);
      return file;
    }
  }
}

/** Stands for a nesting too deep to build recursively; `jsonText` swaps it for the nested text. */
const DEEP = '\u2063deep\u2063';
const DEPTH = 50_000;

const deepText = (random: Random) => (random() < 0.5 ? `${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}` : `${'{"a":'.repeat(DEPTH)}1${'}'.repeat(DEPTH)}`);
function deepValue(): unknown {
  const root: unknown[] = [];
  let node = root;
  for (let i = 0; i < DEPTH; i++) node = (node[0] = []) as unknown[];
  return root;
}

/** Values of every JSON type, at every edge: wrong types, negatives, fractions, beyond 2^53, prototype names. */
const HOSTILE_VALUES: readonly unknown[] = [
  null, true, false, 0, -1, -0, 0.5, 1.5, 3, 1e308, -1e308, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 1e21, '', 'x', '0', '-1',
  '__proto__', 'constructor', 'toString', 'F32', 'F16', 'BF16', 'I64', 'U8', 'BOOL', 'float32', 'llama', 'LORA',
  [], {}, [0], [-1], [1, 2], [2 ** 53, 2], [1, 2, 3, 4, 5], ['a', 'b'], { Regex: '(a+)+$' }, { Regex: '(' }, { a: 1 },
  'x'.repeat(20_000), DEEP,
];
/** Only for loaders that also take an object: what JSON text cannot say. */
const NON_JSON_VALUES: readonly unknown[] = [NaN, Infinity, -Infinity, undefined];

type JsonPath = Array<string | number>;

function pathsOf(value: unknown, path: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(path);
  if (Array.isArray(value)) value.forEach((v, i) => pathsOf(v, [...path, i], out));
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) pathsOf(v, [...path, k], out);
  return out;
}

/**
 * A mutated deep copy of a JSON value: one node replaced by a hostile value, deleted, renamed to a prototype key, its
 * number scaled or negated, its array repeated, or wrapped in deep nesting.
 */
function mutateJson(value: unknown, random: Random, { nonJson = false } = {}): unknown {
  const copy = structuredClone(value);
  const paths = pathsOf(copy);
  const mutations = below(random, 3) + 1;
  let root: unknown = copy;
  for (let m = 0; m < mutations; m++) {
    const path = pick(random, paths);
    const parent = path.slice(0, -1).reduce<unknown>((node, key) => (node as Record<string | number, unknown>)?.[key], root) as Record<string | number, unknown>;
    const key = path[path.length - 1];
    const current = path.length === 0 ? root : parent?.[key];
    if (path.length > 0 && (parent === null || typeof parent !== 'object')) continue;
    const set = (next: unknown) => {
      if (path.length === 0) root = next;
      else parent[key] = next;
    };
    switch (below(random, 7)) {
      case 0: set(pick(random, nonJson && random() < 0.3 ? NON_JSON_VALUES : HOSTILE_VALUES)); break;
      case 1:
        if (path.length === 0) break;
        if (Array.isArray(parent)) parent.splice(key as number, 1);
        else delete parent[key];
        break;
      case 2:
        if (path.length === 0 || Array.isArray(parent)) break;
        delete parent[key];
        parent[pick(random, ['__proto__', 'constructor', 'toString', 'hasOwnProperty', `${key}_`])] = current;
        break;
      case 3:
        if (typeof current === 'number') set(pick(random, [-current, current * 2 ** 40, current + 0.5, current * 1e300, String(current)]));
        else set(pick(random, HOSTILE_VALUES));
        break;
      case 4:
        if (Array.isArray(current)) set(Array.from({ length: current.length * 50 }, (_, i) => current[i % Math.max(1, current.length)]));
        else set(pick(random, HOSTILE_VALUES));
        break;
      case 5: // deep nesting is costly to parse: a few cases in a hundred
        if (random() < 0.4) set(nonJson && random() < 0.5 ? deepValue() : DEEP);
        else set(pick(random, HOSTILE_VALUES));
        break;
      default: set(typeof current === 'string' ? `${current}\u0000\ud800` : [current]);
    }
  }
  return root;
}

/**
 * JSON text of a mutated value, with the first DEEP marker written out as deep nesting (JSON.stringify itself would
 * overflow) and any copies of it as 0, so a case stays a few hundred kilobytes at most.
 */
function jsonText(value: unknown, random: Random): string {
  const marker = JSON.stringify(DEEP);
  return JSON.stringify(value).replace(marker, () => deepText(random)).replaceAll(marker, '0');
}

/** Text-level damage to JSON: truncation, a stray character, doubled braces. */
function mutateJsonText(text: string, random: Random): string {
  const at = below(random, text.length);
  switch (below(random, 3)) {
    case 0: return text.slice(0, at);
    case 1: return text.slice(0, at) + pick(random, ['"', '{', '}', '[', ']', ',', ':', '\\', '\u0000', '1e999', '-']) + text.slice(at);
    default: return `${text.slice(0, at)}${'['.repeat(DEPTH)}${text.slice(at)}`;
  }
}

/** Most cases mutate the parsed value; one in eight damages the text. */
function mutatedJsonText(base: unknown, random: Random): string {
  return random() < 0.125 ? mutateJsonText(JSON.stringify(base), random) : jsonText(mutateJson(base, random), random);
}

const encode = (text: string) => new TextEncoder().encode(text);

async function* chunks(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < bytes.length; at += size) yield bytes.subarray(at, at + size);
}
function streamOf(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  let position = 0;
  return new ReadableStream({
    pull(controller) {
      if (position >= bytes.length) controller.close();
      else controller.enqueue(bytes.subarray(position, (position += size)));
    },
  });
}

// ---- the fuzzed formats ----

const counts: Record<string, Outcomes> = {};
afterAll(() => {
  const rows = Object.entries(counts).map(([format, o]) => `${format}: ${o.accepted + o.rejected} cases, ${o.accepted} accepted, ${o.rejected} rejected, slowest ${o.slowestCpuMs.toFixed(0)} ms CPU`);
  console.log(`fuzz outcomes\n${rows.join('\n')}`);
});

beforeAll(async () => {
  await initBackend();
});

describe('safetensors', () => {
  const base = writeSafetensors({
    'a.weight': { dtype: 'F32', shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) },
    'b.half': { dtype: 'F16', shape: [4], data: Float32Array.from([0.5, -1, 2, 65504]) },
    'c.bf': { dtype: 'BF16', shape: [1, 2], data: Float32Array.from([3, -7]) },
    'd.ids': { dtype: 'I64', shape: [2], data: new Uint8Array(16) },
    'e.empty': { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
  }, { format: 'pt', note: 'fuzz' });
  const headerEnd = 8 + Number(new DataView(base.buffer).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(base.subarray(8, headerEnd)));
  const data = base.subarray(headerEnd);

  /** A file whose header JSON was mutated, with a length prefix that matches it (so the JSON itself is tested). */
  function withHeader(text: string): Uint8Array {
    const json = encode(text);
    const file = new Uint8Array(8 + json.length + data.length);
    new DataView(file.buffer).setBigUint64(0, BigInt(json.length), true);
    file.set(json, 8);
    file.set(data, 8 + json.length);
    return file;
  }

  it('2000 mutated files parse to consistent tensors or throw SafetensorsError, streaming or whole', async () => {
    const outcomes = await fuzz('safetensors', 1, 2000, async (random) => {
      const file = random() < 0.5 ? mutateBytes(base, random) : withHeader(mutatedJsonText(header, random));
      let parsed: ReturnType<typeof parseSafetensors> | null = null;
      let wholeError: unknown = null;
      try {
        parsed = parseSafetensors(file);
        for (const entry of parsed.tensors.values()) {
          const elements = entry.shape.reduce((a, b) => a * b, 1);
          if (entry.data.byteLength !== elements * { F32: 4, F16: 2, BF16: 2 }[entry.dtype as 'F32'] && ['F32', 'F16', 'BF16'].includes(entry.dtype)) {
            throw new Error(`tensor of ${entry.dtype}${JSON.stringify(entry.shape)} has ${entry.data.byteLength} bytes`);
          }
          if (['F32', 'F16', 'BF16'].includes(entry.dtype)) expect(toFloat32(entry).length).toBe(elements);
        }
      } catch (error) {
        wholeError = error;
      }
      // The streaming reader must reach the same verdict.
      const streamed = await streamSafetensors(streamOf(file, Math.max(7, Math.ceil(file.length / 1000))), () => {}).then(() => null, (error: unknown) => error);
      if ((streamed === null) !== (parsed !== null)) throw new Error(`stream and whole file disagree: ${String(streamed)} vs ${String(wholeError)}`);
      if (wholeError) throw wholeError;
      if (streamed) throw streamed;
    }, typed(SafetensorsError));
    counts.safetensors = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.accepted).toBeGreaterThan(50);
  });
});

describe('GGUF', () => {
  const tokens = [...BYTE_TO_CHAR, 'de', 'def'];
  const metadata: MetadataEntry[] = [
    ['general.architecture', 'string', 'llama'],
    ['llama.block_count', 'u32', 1], ['llama.embedding_length', 'u32', 32], ['llama.feed_forward_length', 'u32', 48],
    ['llama.attention.head_count', 'u32', 4], ['llama.attention.head_count_kv', 'u32', 2], ['llama.context_length', 'u32', 64],
    ['llama.attention.layer_norm_rms_epsilon', 'f32', 1e-5], ['llama.rope.freq_base', 'f32', 10000],
    ['tokenizer.ggml.model', 'string', 'gpt2'], ['tokenizer.ggml.pre', 'string', 'smollm'],
    ['tokenizer.ggml.tokens', 'array', { type: 'string', values: tokens }],
    ['tokenizer.ggml.merges', 'array', { type: 'string', values: ['d e', 'de f'] }],
    ['tokenizer.ggml.token_type', 'array', { type: 'i32', values: tokens.map((_, i) => (i === 257 ? 3 : 1)) }],
    ['tokenizer.ggml.bos_token_id', 'u32', 0], ['tokenizer.ggml.eos_token_id', 'u32', 257],
  ];
  const f32 = (n: number) => new Uint8Array(Float32Array.from({ length: n }, (_, i) => i / n).buffer);
  const base = writeGguf({
    metadata,
    tensors: [
      { name: 'token_embd.weight', type: 0, dims: [32, 4], data: f32(128) },
      { name: 'blk.0.attn_norm.weight', type: 1, dims: [32], data: new Uint8Array(64).fill(0x3c) },
      { name: 'blk.0.attn_q.weight', type: 8, dims: [32, 2], data: new Uint8Array(68).fill(7) },
      { name: 'blk.0.ffn_up.weight', type: 12, dims: [256], data: new Uint8Array(144).fill(0x11) },
      { name: 'blk.0.ffn_down.weight', type: 14, dims: [256], data: new Uint8Array(210).fill(0x21) },
    ],
  });
  const headerEnd = parseGguf(base).dataStart;

  it('3000 mutated files parse, dequantize and describe their model and tokenizer, or throw a typed error', async () => {
    const outcomes = await fuzz('GGUF', 2, 3000, (random) => {
      // Mostly the header (counts, lengths, types, dims, offsets), sometimes the tensor data.
      const file = random() < 0.85 ? mutateBytes(base, random, 0, headerEnd) : mutateBytes(base, random, headerEnd);
      const gguf = parseGguf(file);
      for (const info of gguf.tensors) {
        try {
          expect(dequantizeGgufTensor(file, info).length).toBe(info.elementCount);
        } catch (error) {
          if (!(error instanceof GgufError && error.code === 'UNSUPPORTED_TENSOR_TYPE')) throw error;
        }
      }
      try {
        const config = parseModelConfig(hfConfigFromGguf(gguf));
        expect(['llama', 'qwen2']).toContain(config.architecture);
      } catch (error) {
        // loadGgufModel wraps these as GgufError('BAD_MODEL'); the message is the config's own.
        if (!(error instanceof ModelConfigError)) throw error;
      }
      const tokenizer = tokenizerFromGguf(gguf.metadata);
      const ids = tokenizer.encode('def f(x): return 12');
      expect(ids.every((id) => id >= 0 && id < tokenizer.vocabSize)).toBe(true);
    }, typed(GgufError, ModelConfigError));
    counts.GGUF = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(1500);
    expect(outcomes.accepted).toBeGreaterThan(100);
  });
});

describe('config.json', () => {
  const base = {
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 61, hidden_size: 32, intermediate_size: 48,
    num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 8, rms_norm_eps: 1e-5, rope_theta: 10000,
    rope_scaling: null, max_position_embeddings: 128, tie_word_embeddings: false, attention_bias: false, mlp_bias: false,
    torch_dtype: 'bfloat16', hidden_act: 'silu', bos_token_id: 1, eos_token_id: [2, 3],
  };

  it('2000 mutated configs parse to a valid ModelConfig or throw ModelConfigError', async () => {
    const outcomes = await fuzz('config.json', 3, 2000, (random) => {
      const input = random() < 0.3 ? mutateJson(base, random, { nonJson: true }) : mutatedJsonText(base, random);
      const config = parseModelConfig(input as object);
      expect(['llama', 'qwen2']).toContain(config.architecture);
      for (const field of ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'maxPositionEmbeddings'] as const) {
        expect(Number.isSafeInteger(config[field]) && config[field] > 0, field).toBe(true);
      }
      expect(config.ropeTheta > 0 && Number.isFinite(config.ropeTheta) && config.rmsNormEps > 0 && Number.isFinite(config.rmsNormEps)).toBe(true);
    }, typed(ModelConfigError));
    counts['config.json'] = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.accepted).toBeGreaterThan(200);
  });
});

describe('tokenizer.json', () => {
  const vocab = Object.fromEntries([...BYTE_TO_CHAR, 'de', 'def', 'Ġx'].map((token, id) => [token, id]));
  const base = {
    version: '1.0', truncation: null, padding: null,
    added_tokens: [{ id: 259, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }],
    normalizer: { type: 'Sequence', normalizers: [{ type: 'NFC' }] },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Isolated', invert: false },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '<|endoftext|>', type_id: 0 } }],
      special_tokens: { '<|endoftext|>': { id: '<|endoftext|>', ids: [259], tokens: ['<|endoftext|>'] } },
    },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges: ['d e', 'de f', 'Ġ x'] },
  };

  it('2000 mutated tokenizers load and encode or throw TokenizerLoadError', async () => {
    const outcomes = await fuzz('tokenizer.json', 4, 2000, (random) => {
      const input = random() < 0.3 ? mutateJson(base, random, { nonJson: true }) : mutatedJsonText(base, random);
      const tokenizer = BpeTokenizer.fromJSON(input);
      const ids = tokenizer.encode('def f(x):\n  return 12 # é 👩‍💻 <|endoftext|>');
      expect(ids.every((id) => Number.isInteger(id) && id >= 0 && id < tokenizer.vocabSize)).toBe(true);
      expect(typeof tokenizer.decode(ids)).toBe('string');
    }, typed(TokenizerLoadError));
    counts['tokenizer.json'] = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(800);
    expect(outcomes.accepted).toBeGreaterThan(20);
  });
});

describe('adapter_config.json and adapter_model.safetensors', () => {
  const model = tinyConfig();
  let weights: Uint8Array;
  let config: object;
  beforeAll(async () => {
    const exported = await exportPeftAdapter(randomLoraAdapter(model, { rank: 2, targetModules: ['q_proj', 'v_proj'], seed: 5 }));
    weights = exported.safetensors;
    config = exported.adapterConfig;
  });

  it('2000 mutated adapters import with the right shapes or throw LoraError', async () => {
    const outcomes = await fuzz('adapter_config.json', 5, 2000, (random) => {
      const damageWeights = random() < 0.2;
      const configInput = damageWeights ? config : random() < 0.3 ? mutateJson(config, random, { nonJson: true }) as object : mutatedJsonText(config, random);
      const adapter = importPeftAdapter(damageWeights ? mutateBytes(weights, random) : weights, configInput, model);
      expect(Number.isSafeInteger(adapter.rank) && adapter.rank > 0 && Number.isFinite(adapter.alpha)).toBe(true);
      adapter.layers.forEach((modules) => {
        for (const [module, pair] of Object.entries(modules)) {
          const [out, inFeatures] = linearShape(model, module as 'q_proj');
          expect([(pair!.A as Float32Array).length, (pair!.B as Float32Array).length]).toEqual([adapter.rank * inFeatures, out * adapter.rank]);
        }
      });
    }, typed(LoraError));
    counts['adapter_config.json'] = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.accepted).toBeGreaterThan(200);
  });
});

describe('hypernetwork_config.json', () => {
  const model: ModelConfig = tinyConfig();
  const hyper: HypernetworkConfig = {
    embeddingSize: 3, shapes: { q_proj: linearShape(model, 'q_proj') }, hiddenSize: 2, rank: 1, alpha: 2,
    meanWeight: 0.6, maxWeight: 1.4, initLogScale: -3.5,
  };
  const base = {
    format: 'code2lora-hypernetwork', format_version: 1, kind: 'code2lora-static',
    base_model: {
      name: 'tiny', sha256: null, num_hidden_layers: model.numLayers, hidden_size: model.hiddenSize, intermediate_size: model.intermediateSize,
      num_key_value_heads: model.numKvHeads, head_dim: model.headDim, vocab_size: model.vocabSize,
    },
    encoder: { model: 'c2l-base', chunk_tokens: 128, chunks_per_file: 2, include_tests: false, hidden_size: 3 },
    embedding_size: 3, shapes: hyper.shapes, hidden_size: 2, rank: 1, alpha: 2, mean_weight: 0.6, max_weight: 1.4, init_log_scale: -3.5,
  };
  const weights = writeSafetensors(Object.fromEntries([...hypernetworkWeightShapes(hyper)].map(([name, shape]) => (
    [name, { dtype: 'F32' as const, shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(0.25) }]))));

  it('2000 mutated hypernetworks load and match their config, or throw HypernetworkLoadError', async () => {
    const tensorsBefore = tf.memory().numTensors;
    const outcomes = await fuzz('hypernetwork_config.json', 6, 2000, async (random) => {
      const damageWeights = random() < 0.2;
      const files: Record<string, Uint8Array> = {
        'hypernetwork_config.json': encode(damageWeights ? JSON.stringify(base) : mutatedJsonText(base, random)),
        'hypernetwork.safetensors': damageWeights ? mutateBytes(weights, random) : weights,
      };
      const loaded = await loadHypernetwork(async (name) => files[name] ?? null, { baseModel: model, baseModelName: 'tiny', encoderHiddenSize: 3 });
      try {
        for (const [name, shape] of hypernetworkWeightShapes(loaded.config, loaded.kind)) expect(loaded.weights.get(name)?.shape).toEqual(heldShape(name, shape));
      } finally {
        for (const tensor of loaded.weights.values()) tensor.dispose();
      }
    }, typed(HypernetworkLoadError));
    counts['hypernetwork_config.json'] = outcomes;
    expect(tf.memory().numTensors).toBe(tensorsBefore);
    expect(outcomes.rejected).toBeGreaterThan(1000);
    expect(outcomes.accepted).toBeGreaterThan(50);
  });
});

describe('git smart HTTP: pkt-line ref advertisement and packfile', () => {
  let scratch: string;
  /** The real server's answers to one clone, in request order: [method, body]. */
  let recorded: Array<{ method: string; url: string; response: GitHttpResponse; body: Uint8Array }>;
  let dirCount = 0;

  beforeAll(async () => {
    scratch = await mkdtemp(join(tmpdir(), 'fuzz-git-'));
    const root = join(scratch, 'served');
    const [repo] = await makeSynthRepos({ root, seeds: [7], commits: 3 });
    const server = await startGitHttpServer({ root });
    recorded = [];
    const recorder: HttpClient = {
      async request(request: GitHttpRequest) {
        const response = await http.request(request);
        const parts: Uint8Array[] = [];
        for await (const part of response.body ?? []) parts.push(part);
        const body = Uint8Array.from(parts.flatMap((p) => [...p]));
        recorded.push({ method: request.method ?? 'GET', url: request.url, response, body });
        return { ...response, body: chunks(body, body.length || 1) };
      },
    };
    try {
      await cloneRepository({ fs, http: recorder, dir: join(scratch, 'reference'), url: `${server.url}/${repo.name}.git`, depth: 10 });
    } finally {
      await server.close();
    }
  });
  afterAll(async () => {
    if (scratch) await rm(scratch, { recursive: true, force: true });
  });

  /** Replays the recorded answers, the `damaged`-th one mutated by `mutate`, in chunks of a random size. */
  function replay(damaged: number, mutate: (body: Uint8Array) => Uint8Array, random: Random): HttpClient {
    let next = 0;
    return {
      async request(request: GitHttpRequest) {
        const index = next++;
        const answer = recorded[Math.min(index, recorded.length - 1)];
        if (answer.method !== (request.method ?? 'GET')) throw new Error(`unexpected ${request.method} ${request.url}`);
        const body = index === damaged ? mutate(answer.body) : answer.body;
        return { ...answer.response, url: request.url, body: chunks(body, below(random, 4096) + 1) };
      },
    };
  }

  /** pkt-line damage: a length field rewritten (hex out of range, not hex, too long, flush), a line cut or doubled. */
  function mutatePktLines(body: Uint8Array, random: Random): Uint8Array {
    const starts: number[] = [];
    for (let at = 0; at + 4 <= body.length;) {
      const length = parseInt(new TextDecoder().decode(body.subarray(at, at + 4)), 16);
      starts.push(at);
      if (!Number.isFinite(length)) break;
      at += length < 4 ? 4 : length;
    }
    const at = pick(random, starts);
    const file = body.slice();
    switch (below(random, 4)) {
      case 0: file.set(encode(pick(random, ['ffff', '0001', '0002', '0003', 'zzzz', '-001', ' 0x1', 'FFFF', '0000', '0004'])), at); return file;
      case 1: file.set(encode(body.length.toString(16).padStart(4, '0').slice(-4)), at); return file;
      case 2: return Uint8Array.from([...file.subarray(0, at), ...file.subarray(at, at + 40), ...file.subarray(at)]);
      default: return mutateBytes(body, random);
    }
  }

  async function fuzzClone(format: string, seed: number, cases: number, damage: (answerIndex: number) => boolean,
    mutate: (body: Uint8Array, random: Random) => Uint8Array): Promise<Outcomes> {
    const targets = recorded.map((_, i) => i).filter(damage);
    return fuzz(format, seed, cases, async (random) => {
      const dir = join(scratch, `clone-${++dirCount}`);
      const http = replay(pick(random, targets), (body) => mutate(body, random), random);
      try {
        const result = await cloneRepository({ fs, http, dir, url: 'http://fuzz.invalid/repo.git', depth: 10, maxBytes: 1 << 20 });
        expect(result.head).toMatch(/^[0-9a-f]{40}$/);
      } catch (error) {
        // A failed clone leaves nothing behind.
        expect(fs.existsSync(dir), `${dir} left behind`).toBe(false);
        throw error;
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }, typed(GitError));
  }

  it('recorded a ref advertisement and a pack', () => {
    expect(recorded.map((r) => r.method)).toEqual(['GET', 'POST']);
    expect(new TextDecoder().decode(recorded[0].body.subarray(0, 40))).toMatch(/^001e# service=git-upload-pack\n0000/);
    expect(new TextDecoder('latin1').decode(recorded[1].body)).toContain('PACK');
  });

  it('300 damaged ref advertisements clone or throw GitError', async () => {
    const outcomes = await fuzzClone('pkt-line refs', 7, 300, (i) => recorded[i].method === 'GET', mutatePktLines);
    counts['pkt-line refs'] = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(100);
  });

  it('300 damaged upload-pack answers (pkt-lines, side band, packfile) clone or throw GitError', async () => {
    const outcomes = await fuzzClone('packfile', 8, 300, (i) => recorded[i].method === 'POST', (body, random) => {
      const pack = new TextDecoder('latin1').decode(body).indexOf('PACK');
      // Half in the pack header and first objects (object count, type and size varints), half anywhere.
      return random() < 0.5 ? mutateBytes(body, random, pack, pack + 64) : random() < 0.5 ? mutatePktLines(body, random) : mutateBytes(body, random);
    });
    counts.packfile = outcomes;
    expect(outcomes.rejected).toBeGreaterThan(100);
  });
});
