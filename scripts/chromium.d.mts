// Types for scripts/chromium.mjs (plain JS so that `npm test` can run it before any TypeScript tooling).
export function findChromium(options?: { install?: boolean }): string;
