// Base-model quality on held-out Python: bits per byte (comparable across tokenizers) and next-line exact match.
import * as tf from '@tensorflow/tfjs';
import { generate, type TextTokenizer } from '../model/generate.ts';
import type { LlamaModel } from '../model/llama.ts';
import { extractCodeUnits } from '../parse/codeUnits.ts';
import type { PythonParser } from '../parse/pythonParser.ts';
import { seededUniform } from '../util/random.ts';

export interface TokenizerWithEos extends TextTokenizer {
  eosTokenId: number | undefined;
}

/**
 * Cross-entropy of every text token in bits, divided by the text's UTF-8 bytes. Each document is read as
 * [eos, tokens...] (documents are eos-separated in training) in non-overlapping windows of `window` tokens.
 */
export async function bitsPerByte(
  model: LlamaModel,
  tokenizer: TokenizerWithEos,
  texts: readonly string[],
  { window = 512, onProgress }: { window?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<{ bitsPerByte: number; bytes: number; tokens: number }> {
  const eos = tokenizer.eosTokenId ?? 0;
  let nats = 0;
  let bytes = 0;
  let tokens = 0;
  const utf8 = new TextEncoder();
  for (const [index, text] of texts.entries()) {
    const ids = [eos, ...tokenizer.encode(text)];
    bytes += utf8.encode(text).length;
    // Windows overlap by one token so every text token is predicted exactly once.
    for (let start = 0; start + 1 < ids.length; start += window - 1) {
      const chunk = ids.slice(start, start + window);
      const targets = chunk.slice(1);
      const loss = tf.tidy(() => {
        const logits = model.forward(chunk.slice(0, -1));
        const logProbs = tf.logSoftmax(logits);
        return tf.neg(tf.sum(tf.mul(logProbs, tf.oneHot(tf.tensor1d(targets, 'int32'), logits.shape[1]))));
      });
      nats += (await loss.data())[0];
      loss.dispose();
      tokens += targets.length;
    }
    onProgress?.(index + 1, texts.length);
  }
  return { bitsPerByte: nats / Math.LN2 / Math.max(bytes, 1), bytes, tokens };
}

export interface NextLineSample {
  file: string;
  line: number;
  expected: string;
  predicted: string;
}

/**
 * Picks `samples` lines inside function bodies (seeded, at most one per function), gives the model the file before
 * that line (its last `maxPromptTokens` tokens) and compares its greedy next line with the real one, trailing
 * whitespace ignored. Blank lines and lines that only close brackets are not picked.
 *
 * Token healing by back-off: tokenizers disagree on where the newline before a line goes (ours merges it with the
 * punctuation before it, `):\n`; GPT-2/SmolLM2 style merges it with the next line's indentation), so a prompt that
 * ends exactly at a line boundary shows one of them a token boundary it never saw in training. The prompt's last
 * tokens are dropped until what remains ends before that newline; the model regenerates them, then the line.
 */
export async function nextLineExactMatch(
  model: LlamaModel,
  tokenizer: TextTokenizer,
  parser: PythonParser,
  files: ReadonlyArray<{ path: string; content: string }>,
  { samples = 200, seed = 0, maxPromptTokens = 448, maxNewTokens = 48, onProgress }: {
    samples?: number; seed?: number; maxPromptTokens?: number; maxNewTokens?: number; onProgress?: (done: number, total: number) => void;
  } = {},
): Promise<{ exactMatch: number; samples: NextLineSample[] }> {
  const candidates: Array<{ file: string; content: string; line: number }> = [];
  for (const file of files) {
    const lines = file.content.split('\n');
    for (const unit of extractCodeUnits(file.content, parser).units) {
      if (unit.kind !== 'function') continue;
      const bodyLines: number[] = [];
      for (let line = unit.bodySpan.startLine + 1; line <= unit.bodySpan.endLine; line++) {
        const text = lines[line - 1] ?? '';
        if (text.trim() && !/^[\s)\]}]*$/.test(text)) bodyLines.push(line);
      }
      if (bodyLines.length > 0) candidates.push({ file: file.path, content: file.content, line: bodyLines[Math.floor(bodyLines.length / 2)] });
    }
  }
  const random = seededUniform(seed);
  for (let i = candidates.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [candidates[i], candidates[j]] = [candidates[j], candidates[i]];
  }
  const chosen = candidates.slice(0, samples);
  const results: NextLineSample[] = [];
  for (const [index, candidate] of chosen.entries()) {
    const lines = candidate.content.split('\n');
    const before = lines.slice(0, candidate.line - 1).join('\n');
    const ids = tokenizer.encode(`${before}\n`);
    let keep = ids.length;
    while (keep > 0 && !before.startsWith(tokenizer.decode(ids.slice(0, keep)))) keep--;
    const unfinished = before.slice(tokenizer.decode(ids.slice(0, keep)).length); // what the dropped tokens held before the newline
    const { text } = await generate(model, ids.slice(Math.max(0, keep - maxPromptTokens), keep), { tokenizer, maxNewTokens });
    const continuation = text.startsWith(`${unfinished}\n`) ? text.slice(unfinished.length + 1).split('\n')[0] : null;
    results.push({ file: candidate.file, line: candidate.line, expected: lines[candidate.line - 1], predicted: continuation ?? text });
    onProgress?.(index + 1, chosen.length);
  }
  const matches = results.filter((r) => r.predicted.trimEnd() === r.expected.trimEnd()).length;
  return { exactMatch: results.length ? matches / results.length : 0, samples: results };
}
