// A nesting limit for JSON read from files and servers: our readers, JSON.stringify and structuredClone recurse, so a
// file nested deeper than any real one must be refused up front (with the format's own error), not overflow the stack.

/** Real config.json, tokenizer.json and safetensors headers nest fewer than 10 levels. */
export const MAX_JSON_DEPTH = 64;

/**
 * True when `value` (parsed JSON) nests arrays and objects more than `limit` levels deep (the top level is level 1).
 * Iterative, so it cannot overflow itself.
 * @example nestsDeeperThan(JSON.parse('[[[]]]'), 2) // true
 */
export function nestsDeeperThan(value: unknown, limit = MAX_JSON_DEPTH): boolean {
  const pending: Array<[unknown, number]> = [[value, 1]];
  while (pending.length > 0) {
    const [node, level] = pending.pop()!;
    if (node === null || typeof node !== 'object') continue;
    if (level > limit) return true;
    for (const child of Object.values(node)) {
      if (child !== null && typeof child === 'object') pending.push([child, level + 1]);
    }
  }
  return false;
}
