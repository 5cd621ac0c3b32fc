// models/index.json lists every file below public/models as a site path, so the app never probes for a missing one.
import { describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listModelFiles } from '../server/modelIndex.ts';

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
});
