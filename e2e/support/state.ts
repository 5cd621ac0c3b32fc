// What global setup hands to the specs: the local git server's repositories (URLs and what they contain).
import { readFileSync } from 'node:fs';

export interface E2eRepo {
  url: string;
  seed: number;
  commits: number;
  /** Test assertions the generator planted in the tree at HEAD. */
  assertionsAtHead: number;
}

export interface E2eState {
  gitServerUrl: string;
  repos: E2eRepo[];
}

export const E2E_STATE_FILE = 'test-results/e2e-state.json';

export function readE2eState(): E2eState {
  return JSON.parse(readFileSync(E2E_STATE_FILE, 'utf8')) as E2eState;
}
