// The TypeScript side of training/tests/test_hypernet_parity.py: file embeddings and adapters computed by the app's code paths, as JSON.
//
//   npx tsx test/support/code2loraParity.ts embed --encoder DIR [--layer L] --sources FILE.json --out OUT.json
//     FILE.json: [{path, content}]; OUT.json: {files: [{path, blobId, chunks, embedding}]} for the files encodeRepository kept
//     (--layer: the hidden state after layer L, as a hypernetwork config's encoder.layer asks)
//   npx tsx test/support/code2loraParity.ts embed-diff --encoder DIR --chunks FILE.json --out OUT.json
//     FILE.json: [[[token ids] per chunk] per commit]; OUT.json: [[2E floats] | null per commit] (embedDiff)
//   npx tsx test/support/code2loraParity.ts adapter --hypernetwork DIR --base-config CONFIG.json --base-name NAME
//     --encoder-hidden-size N --embeddings FILE.json --out OUT.json
//     FILE.json: [[E floats] per file]; OUT.json: {rank, alpha, layers: [{module: {A, B}} per layer]} (A [r x in], B [out x r], row-major)
//   npx tsx test/support/code2loraParity.ts evo (the adapter options) --diffs DIFFS.json --out OUT.json
//     DIFFS.json: [[2E floats] | null per commit after the first]; OUT.json: {states: [[H floats] per commit],
//     adapters: [{commit, modules}] at the first, middle and last commit}
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ENCODER_SETTINGS } from '../../src/code2lora/encoderSettings.ts';
import { evoAdapter, stepEvoState } from '../../src/code2lora/evo.ts';
import { generateAdapter, repoState } from '../../src/code2lora/hypernetwork.ts';
import type { LoraAdapter } from '../../src/model/lora.ts';
import { loadHypernetwork } from '../../src/code2lora/loadHypernetwork.ts';
import { embedDiff, encodeRepository, fileChunkIds } from '../../src/code2lora/repoEncoder.ts';
import { initBackend } from '../../src/model/backend.ts';
import { parseModelConfig } from '../../src/model/config.ts';
import { filesFromDirectory, loadHfModel } from '../../src/model/loadHfModel.ts';
import { loadPythonParser } from '../../src/parse/pythonParser.ts';
import { BpeTokenizer } from '../../src/tokenizer/bpeTokenizer.ts';

const { positionals: [command], values: args } = parseArgs({
  allowPositionals: true,
  options: {
    encoder: { type: 'string' },
    sources: { type: 'string' },
    hypernetwork: { type: 'string' },
    'base-config': { type: 'string' },
    'base-name': { type: 'string' },
    'encoder-hidden-size': { type: 'string' },
    embeddings: { type: 'string' },
    diffs: { type: 'string' },
    chunks: { type: 'string' },
    out: { type: 'string' },
    layer: { type: 'string' },
  },
});

await initBackend();
if (command === 'embed' && args.encoder && args.sources && args.out) {
  const { model } = await loadHfModel(filesFromDirectory(args.encoder));
  const tokenizer = BpeTokenizer.fromJSON(await readFile(join(args.encoder, 'tokenizer.json'), 'utf8'));
  const parser = await loadPythonParser();
  const sources = JSON.parse(await readFile(args.sources, 'utf8')) as Array<{ path: string; content: string }>;
  const layer = args.layer === undefined ? undefined : Number(args.layer);
  const { files } = await encodeRepository({ files: sources, encoder: { model, tokenizer }, layer, parser });
  const contentOf = new Map(sources.map((source) => [source.path, source.content]));
  await writeFile(args.out, JSON.stringify({
    files: files.map((file) => ({
      path: file.path, blobId: file.blobId, embedding: Array.from(file.embedding),
      chunks: fileChunkIds(contentOf.get(file.path)!, parser, tokenizer, ENCODER_SETTINGS),
    })),
  }));
} else if (command === 'embed-diff' && args.encoder && args.chunks && args.out) {
  const { model } = await loadHfModel(filesFromDirectory(args.encoder));
  const tokenizer = BpeTokenizer.fromJSON(await readFile(join(args.encoder, 'tokenizer.json'), 'utf8'));
  const commits = JSON.parse(await readFile(args.chunks, 'utf8')) as number[][][];
  const embedded = [];
  for (const chunks of commits) embedded.push((await embedDiff(chunks, { model, tokenizer }))?.embedding ?? null);
  await writeFile(args.out, JSON.stringify(embedded.map((e) => e && Array.from(e))));
} else if ((command === 'adapter' || (command === 'evo' && args.diffs)) && args.hypernetwork && args['base-config'] && args.embeddings && args.out) {
  const baseModel = parseModelConfig(await readFile(args['base-config'], 'utf8'));
  const hypernetwork = await loadHypernetwork(filesFromDirectory(args.hypernetwork), {
    baseModel, baseModelName: args['base-name'], encoderHiddenSize: args['encoder-hidden-size'] ? Number(args['encoder-hidden-size']) : undefined,
  });
  const embeddings = (JSON.parse(await readFile(args.embeddings, 'utf8')) as number[][]).map((values) => Float32Array.from(values));
  const modulesOf = (adapter: LoraAdapter, layer = 0) => Object.fromEntries(adapter.targetModules.map((module) => {
    const { A, B } = adapter.layers[layer][module]!;
    return [module, { A: Array.from(A as Float32Array), B: Array.from(B as Float32Array) }];
  }));
  if (command === 'adapter') {
    const adapter = await generateAdapter(hypernetwork, baseModel, embeddings);
    const layers = adapter.layers.map((_, layer) => modulesOf(adapter, layer));
    await writeFile(args.out, JSON.stringify({ rank: adapter.rank, alpha: adapter.alpha, layers }));
  } else {
    const diffs = (JSON.parse(await readFile(args.diffs!, 'utf8')) as Array<number[] | null>).map((d) => d && Float32Array.from(d));
    const states = [await repoState(hypernetwork, embeddings)];
    for (const diff of diffs) states.push(await stepEvoState(hypernetwork, states[states.length - 1], diff));
    const picked = [0, Math.floor(states.length / 2), states.length - 1];
    const adapters = await Promise.all(picked.map(async (commit) => {
      const adapter = await evoAdapter(hypernetwork, baseModel, states[commit]);
      return { commit, layers: adapter.layers.map((_, layer) => modulesOf(adapter, layer)) };
    }));
    await writeFile(args.out, JSON.stringify({ states: states.map((state) => Array.from(state)), adapters }));
  }
} else {
  console.error('usage: test/support/code2loraParity.ts embed --encoder DIR --sources FILE --out FILE\n'
    + '       test/support/code2loraParity.ts adapter --hypernetwork DIR --base-config FILE [--base-name NAME] [--encoder-hidden-size N] --embeddings FILE --out FILE\n'
    + '       test/support/code2loraParity.ts evo (the adapter options) --diffs FILE --out FILE');
  process.exit(2);
}
