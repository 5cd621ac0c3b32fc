// Turns what users paste (GitHub page URLs, .git URLs, trailing slashes, /tree/branch) into a clone URL + branch.
import { GitError } from './errors.ts';

export interface NormalizedRepoUrl {
  /** Smart-HTTP clone URL. */
  url: string;
  /** Branch named in the pasted URL (GitHub /tree/<branch>), if any. */
  branch?: string;
  /** Short display name, e.g. `owner/repo`. */
  name: string;
  /** True for localhost/127.0.0.1/[::1]: cloned directly, never through the CORS proxy. */
  isLoopback: boolean;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);
/** DNS names (already punycoded by URL), IPv4 and bracketed IPv6: browsers' URL parsers let some odd hosts through (Chromium
 * keeps `exa mple.org` as `exa%20mple.org`), which would then reach the proxy or the network as nonsense. */
const VALID_HOST = /^(\[[0-9a-f:.]+\]|[a-z0-9_-]+(\.[a-z0-9_-]+)*\.?)$/i;

/**
 * @example normalizeRepoUrl('github.com/psf/requests/tree/main/') // { url: 'https://github.com/psf/requests.git', branch: 'main', ... }
 */
export function normalizeRepoUrl(input: string): NormalizedRepoUrl {
  const trimmed = input.trim();
  if (!trimmed) throw new GitError('INVALID_URL', 'Enter a repository URL');
  if (trimmed.length > 2048) throw new GitError('INVALID_URL', 'The URL is too long');
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(trimmed) ? trimmed : `https://${trimmed}`;
  let parsed: URL;
  try {
    parsed = new URL(withScheme);
  } catch {
    throw new GitError('INVALID_URL', `Not a URL: ${trimmed}`);
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') {
    throw new GitError('INVALID_URL', `Only http(s) git URLs are supported, not ${parsed.protocol}`);
  }
  if (parsed.username || parsed.password) {
    throw new GitError('INVALID_URL', 'Credentials in URLs are not supported: only public repositories can be cloned');
  }
  const host = parsed.hostname.toLowerCase();
  if (!VALID_HOST.test(host)) throw new GitError('INVALID_URL', `Not a URL: ${trimmed} (the host name is not valid)`);
  const isLoopback = LOOPBACK_HOSTS.has(host);
  const segments = parsed.pathname.split('/').filter(Boolean);

  if (host === 'github.com' || host === 'www.github.com') {
    if (segments.length < 2) throw new GitError('INVALID_URL', 'A GitHub URL needs an owner and a repository: github.com/OWNER/REPO');
    const [owner, rawRepo, kind, ...rest] = segments;
    const repo = rawRepo.replace(/\.git$/, '');
    const branch = kind === 'tree' && rest.length > 0 ? decodeURIComponent(rest.join('/')) : undefined;
    return { url: `https://github.com/${owner}/${repo}.git`, branch, name: `${owner}/${repo}`, isLoopback: false };
  }
  if (segments.length === 0) throw new GitError('INVALID_URL', 'The URL names no repository path');
  const path = parsed.pathname.replace(/\/+$/, '');
  const name = segments.slice(-2).join('/').replace(/\.git$/, '');
  return { url: `${parsed.protocol}//${parsed.host}${path}`, name, isLoopback };
}
