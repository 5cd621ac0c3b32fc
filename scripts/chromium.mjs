// Finds the Chromium that e2e tests drive (CHROMIUM_PATH or Debian's /usr/bin/chromium), installing Debian's package when root.
import { existsSync } from 'node:fs';
import { execSync } from 'node:child_process';

export function findChromium({ install = false } = {}) {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter(Boolean);
  const found = candidates.find((path) => existsSync(path));
  if (found) return found;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  if (install && isRoot) {
    console.log('Chromium not found: installing Debian\'s chromium package with apt-get ...');
    execSync('apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium', { stdio: 'inherit' });
    if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  }
  throw new Error(
    'No Chromium found for the e2e tests. Install Debian\'s package (`sudo apt-get install chromium`) ' +
      'or set CHROMIUM_PATH to a Chromium/Chrome executable.',
  );
}
