// Prints our runtime's logits for a Hugging Face model directory (and optional PEFT adapter) as JSON: the parity tests' probe.
//
//   npx tsx cli/logits.ts --model DIR --ids 1,2,3 [--adapter DIR] [--cached] --out logits.json
//   npx tsx cli/logits.ts --model DIR --ids 1,2,3 --export-random-adapter DIR [--seed N --rank R --alpha A --targets q_proj,v_proj] --out logits.json
// --cached decodes token by token through the KV cache instead of one full pass. --export-random-adapter writes a random
// PEFT adapter for the model to DIR and reports the logits with it applied.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.ts';
import { KVCache } from '../src/model/llama.ts';
import { filesFromDirectory, loadHfModel } from '../src/model/loadHfModel.ts';
import { exportPeftAdapter, importPeftAdapter, LORA_MODULES, randomLoraAdapter, type LoraAdapter, type LoraModule } from '../src/model/lora.ts';

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
  },
});

if (!args.model || !args.ids || !args.out) {
  console.error('usage: cli/logits.ts --model DIR --ids 1,2,3 [--adapter DIR | --export-random-adapter DIR] [--cached] --out FILE');
  process.exit(2);
}
const ids = args.ids.split(',').map(Number);

await initBackend();
const { model, config } = await loadHfModel(filesFromDirectory(args.model));

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

let logits: tf.Tensor2D;
if (args.cached) {
  const cache = new KVCache(config.numLayers);
  logits = tf.tidy(() => tf.concat(ids.map((id) => model.forward([id], { cache, lora }))));
  cache.dispose();
} else {
  logits = model.forward(ids, { lora });
}
await writeFile(args.out, JSON.stringify({ shape: logits.shape, logits: Array.from(await logits.data()) }));
