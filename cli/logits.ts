// Prints our runtime's logits for a Hugging Face model directory (and optional PEFT adapter) as JSON: the parity tests' probe.
//
//   npx tsx cli/logits.ts --model DIR --ids 1,2,3 [--adapter DIR] [--cached] --out logits.json   (or logits.npy)
//   npx tsx cli/logits.ts --model DIR --ids 1,2,3 --export-random-adapter DIR [--seed N --rank R --alpha A --targets q_proj,v_proj] --out logits.json
//   npx tsx cli/logits.ts --model DIR --ids 1,2,3 --generate 20 --out generated.json   (greedy ids, no stop tokens; timings on stderr)
//   npx tsx cli/logits.ts --model FILE.gguf --ids 1,2,3 --out logits.npy                (a llama GGUF, dequantized at load)
//   npx tsx cli/logits.ts --model FILE.gguf --encode TEXTFILE --out ids.json            (token ids from the GGUF's tokenizer)
// --cached decodes token by token through the KV cache instead of one full pass. --export-random-adapter writes a random
// PEFT adapter for the model to DIR and reports the logits with it applied.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { generate } from '../src/model/generate.ts';
import { KVCache } from '../src/model/llama.ts';
import { loadGgufModel, parseGguf, tokenizerFromGguf } from '../src/model/gguf.ts';
import { filesFromDirectory, loadHfModel } from '../src/model/loadHfModel.ts';
import {
  exportPeftAdapter, importPeftAdapter, LORA_MODULES, prepareLora, randomLoraAdapter, type LoraAdapter, type LoraModule,
} from '../src/model/lora.ts';

const { values: args } = parseArgs({
  options: {
    model: { type: 'string' },
    ids: { type: 'string' },
    adapter: { type: 'string' },
    cached: { type: 'boolean', default: false },
    out: { type: 'string' },
    'export-random-adapter': { type: 'string' },
    seed: { type: 'string', default: '0' },
    rank: { type: 'string', default: '4' },
    alpha: { type: 'string', default: '8' },
    targets: { type: 'string', default: LORA_MODULES.join(',') },
    generate: { type: 'string' },
    encode: { type: 'string' },
  },
});

if (args.model?.endsWith('.gguf') && args.encode && args.out) {
  const tokenizer = tokenizerFromGguf(parseGguf(await readFile(args.model)).metadata);
  await writeFile(args.out, JSON.stringify({ ids: tokenizer.encode(await readFile(args.encode, 'utf8')) }));
  process.exit(0);
}
if (!args.model || !args.ids || !args.out) {
  console.error('usage: cli/logits.ts --model DIR --ids 1,2,3 [--adapter DIR | --export-random-adapter DIR] [--cached] --out FILE');
  process.exit(2);
}
const ids = args.ids.split(',').map(Number);

await initBackend();
const { model, config } = args.model.endsWith('.gguf')
  ? await loadGgufModel(await readFile(args.model))
  : await loadHfModel(filesFromDirectory(args.model));

let lora: LoraAdapter | null = null;
if (args.adapter) {
  lora = importPeftAdapter(
    await readFile(join(args.adapter, 'adapter_model.safetensors')),
    await readFile(join(args.adapter, 'adapter_config.json'), 'utf8'),
    config,
  );
} else if (args['export-random-adapter']) {
  lora = randomLoraAdapter(config, {
    rank: Number(args.rank), alpha: Number(args.alpha), seed: Number(args.seed), targetModules: args.targets.split(',') as LoraModule[],
  });
  const { safetensors, adapterConfig } = await exportPeftAdapter(lora, { baseModelNameOrPath: args.model });
  await mkdir(args['export-random-adapter'], { recursive: true });
  await writeFile(join(args['export-random-adapter'], 'adapter_model.safetensors'), safetensors);
  await writeFile(join(args['export-random-adapter'], 'adapter_config.json'), JSON.stringify(adapterConfig, null, 2));
}

const prepared = lora ? prepareLora(lora, config) : null;

if (args.generate) {
  const tokenizer = { encode: () => [], decode: (generated: number[]) => generated.join(',') }; // ids in, ids out
  const started = performance.now();
  let firstToken = 0;
  const result = await generate(model, ids, {
    tokenizer, maxNewTokens: Number(args.generate), stopTokenIds: [], lora: prepared,
    onToken: ({ index }) => { if (index === 0) firstToken = performance.now(); },
  });
  const decodeMs = (performance.now() - firstToken) / Math.max(1, result.ids.length - 1);
  console.error(`prefill ${ids.length} tokens + first token ${(firstToken - started).toFixed(0)} ms; decode ${decodeMs.toFixed(1)} ms/token`);
  await writeFile(args.out, JSON.stringify({ generated: result.ids }));
  process.exit(0);
}
let logits: tf.Tensor2D;
if (args.cached) {
  const cache = new KVCache(config.numLayers);
  logits = tf.tidy(() => tf.concat(ids.map((id) => model.forward([id], { cache, lora: prepared }))));
  cache.dispose();
} else {
  logits = model.forward(ids, { lora: prepared });
}
const values = (await logits.data()) as Float32Array;
await writeFile(args.out, args.out.endsWith('.npy') ? npy(values, logits.shape) : JSON.stringify({ shape: logits.shape, logits: Array.from(values) }));

/** NumPy's .npy v1.0 format for a little-endian float32 array: the compact choice for a real vocabulary's logits. */
function npy(data: Float32Array, shape: number[]): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')},), }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n'; // pad so the data starts 64-byte aligned
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, ...new TextEncoder().encode('NUMPY'), 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}
