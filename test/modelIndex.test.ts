// models/index.json lists every file below public/models as a site path, so the app never probes for a missing one, with each file's content digest, the version a copy kept for offline use is checked against.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileVersion, listModelFiles, modelIndex } from '../server/modelIndex.ts';

describe('listModelFiles', () => {
  it('lists nested files as sorted site paths, and nothing for a missing folder', async () => {
    const root = mkdtempSync(join(tmpdir(), 'model-index-'));
    try {
      mkdirSync(join(root, 'c2l-base', 'code2lora-static'), { recursive: true });
      writeFileSync(join(root, 'c2l-base', 'model.safetensors'), '');
      writeFileSync(join(root, 'c2l-base', 'code2lora-static', 'hypernetwork_config.json'), '{}');
      writeFileSync(join(root, 'index.json'), '{}');
      expect(await listModelFiles(root)).toEqual([
        'models/c2l-base/code2lora-static/hypernetwork_config.json',
        'models/c2l-base/model.safetensors',
      ]);
      expect(await listModelFiles(join(root, 'absent'))).toEqual([]);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  it("gives each file its content digest as its version: the same bytes the same version, changed bytes another", async () => {
    const root = mkdtempSync(join(tmpdir(), 'model-index-'));
    try {
      mkdirSync(join(root, 'a'));
      writeFileSync(join(root, 'a', 'config.json'), '{"x":1}');
      writeFileSync(join(root, 'a', 'copy.json'), '{"x":1}');
      const index = await modelIndex(root);
      expect(index.files).toEqual(['models/a/config.json', 'models/a/copy.json']);
      // sha256('{"x":1}'), first 16 hex digits
      expect(index.versions['models/a/config.json']).toBe('5041bf1f713df204');
      expect(index.versions['models/a/copy.json']).toBe(index.versions['models/a/config.json']);
      writeFileSync(join(root, 'a', 'config.json'), '{"x":2}');
      expect(await fileVersion(join(root, 'a', 'config.json'))).not.toBe('5041bf1f713df204');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
