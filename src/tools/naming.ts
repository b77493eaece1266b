import { createHash } from 'node:crypto';
import { DEFAULT_MAX_TOOL_NAME } from '../config/index.js';

/** The strictest tool-name limit among popular clients: 1..64 characters of [A-Za-z0-9_-]. */
export const MAX_TOOL_NAME_LENGTH = DEFAULT_MAX_TOOL_NAME;

const HASH_LENGTH = 8;
// Per code point (flag u), so an emoji becomes one '_', not two.
const UNSAFE_CHARACTERS = /[^A-Za-z0-9_-]/gu;

export interface NameLimit {
  /** Absent: MAX_TOOL_NAME_LENGTH. */
  maxLength?: number;
}

/**
 * Maps any tool name to one every client accepts. Unsafe characters become '_'. A name longer than `maxLength`
 * (PROXY_MAX_TOOL_NAME, at least 16) keeps a readable head and ends in '_' plus a hash of the original name, so
 * long names that share a head stay distinct and the result never depends on anything but the input.
 */
export function toClientSafeName(name: string, { maxLength = MAX_TOOL_NAME_LENGTH }: NameLimit = {}): string {
  const safe = name.replace(UNSAFE_CHARACTERS, '_');
  if (safe.length === 0) return '_';
  if (safe.length <= maxLength) return safe;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, HASH_LENGTH);
  return `${safe.slice(0, maxLength - HASH_LENGTH - 1)}_${hash}`;
}
