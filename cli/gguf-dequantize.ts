// Converts every tensor of a GGUF file to float32 and writes them to a safetensors file under their GGUF names.
//
//   npx tsx cli/gguf-dequantize.ts --gguf model.gguf --out tensors.safetensors
// Shapes are row-major (numpy's view of ggml's dims). The GGUF metadata goes into __metadata__["gguf"] as JSON
// (64-bit integers beyond 2^53 as strings). training/tests/test_gguf_parity.py compares the values with gguf.quants.dequantize.
import { readFile, writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { dequantizeGgufTensor, GGML_TYPES, parseGguf } from '../src/model/gguf.ts';
import { writeSafetensors, type TensorToWrite } from '../src/model/safetensors.ts';

const { values: args } = parseArgs({ options: { gguf: { type: 'string' }, out: { type: 'string' } } });
if (!args.gguf || !args.out) {
  console.error('usage: cli/gguf-dequantize.ts --gguf FILE --out FILE.safetensors');
  process.exit(2);
}
const bytes = await readFile(args.gguf);
const gguf = parseGguf(bytes);
const tensors: Record<string, TensorToWrite> = {};
for (const info of gguf.tensors) {
  tensors[info.name] = { dtype: 'F32', shape: info.shape, data: dequantizeGgufTensor(bytes, info) };
  console.error(`${info.name}: ${GGML_TYPES[info.type].name} [${info.shape}]`);
}
const metadata = JSON.stringify(Object.fromEntries(gguf.metadata), (_key, value) => (typeof value === 'bigint' ? String(value) : value));
await writeFile(args.out, writeSafetensors(tensors, { gguf: metadata, version: String(gguf.version) }));
