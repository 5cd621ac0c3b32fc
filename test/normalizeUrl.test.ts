// What users paste as a repository URL, normalised to a clone URL (or rejected with a clear error).
import { describe, expect, it } from 'vitest';
import { GitError, normalizeRepoUrl } from '../src/git/index.ts';

describe('normalizeRepoUrl', () => {
  it.each([
    ['https://github.com/psf/requests', 'https://github.com/psf/requests.git', undefined],
    ['https://github.com/psf/requests.git', 'https://github.com/psf/requests.git', undefined],
    ['https://github.com/psf/requests/', 'https://github.com/psf/requests.git', undefined],
    ['github.com/psf/requests', 'https://github.com/psf/requests.git', undefined],
    ['  https://www.github.com/psf/requests  ', 'https://github.com/psf/requests.git', undefined],
    ['https://github.com/psf/requests/tree/main', 'https://github.com/psf/requests.git', 'main'],
    ['https://github.com/psf/requests/tree/release/2.x/', 'https://github.com/psf/requests.git', 'release/2.x'],
    ['https://gitlab.com/group/sub/project.git', 'https://gitlab.com/group/sub/project.git', undefined],
    ['http://127.0.0.1:8123/demo.git/', 'http://127.0.0.1:8123/demo.git', undefined],
  ])('%s', (input, url, branch) => {
    const normalized = normalizeRepoUrl(input);
    expect(normalized.url).toBe(url);
    expect(normalized.branch).toBe(branch);
  });

  it('marks loopback hosts so they bypass the CORS proxy', () => {
    expect(normalizeRepoUrl('http://localhost:9/x.git').isLoopback).toBe(true);
    expect(normalizeRepoUrl('https://github.com/a/b').isLoopback).toBe(false);
  });

  it('names the repository', () => {
    expect(normalizeRepoUrl('https://github.com/psf/requests/tree/main').name).toBe('psf/requests');
  });

  it.each(['', '   ', 'ftp://example.com/x.git', 'https://github.com/onlyowner', 'https://user:pw@github.com/a/b', 'https://example.com/', 'http://[bad', 'x'.repeat(3000)])(
    'rejects %j with INVALID_URL',
    (input) => {
      expect(() => normalizeRepoUrl(input)).toThrow(GitError);
      try {
        normalizeRepoUrl(input);
      } catch (err) {
        expect((err as GitError).code).toBe('INVALID_URL');
      }
    },
  );
});
