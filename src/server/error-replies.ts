/**
 * What the client gets when a request went wrong upstream. An upstream's error text may echo what we sent it
 * (headers, tokens), so whatever of it is passed on is redacted like stderr; a request no upstream serves gets the
 * error MCP names for it.
 */
import { ProtocolError, ProtocolErrorCode, ResourceNotFoundError, type Result } from '@modelcontextprotocol/server';
import type { RequestTarget } from '../../machines/supervisor/index.js';
import { redact } from '../observe/redact.js';

/** The text of a tool's error result, redacted like stderr (the upstream may echo our headers in it). */
export function redactToolError(result: Result): Result {
  const content = (result as { content?: unknown }).content;
  if (!Array.isArray(content)) return result;
  return {
    ...result,
    content: content.map((block: { type?: unknown; text?: unknown }) =>
      block?.type === 'text' && typeof block.text === 'string' ? { ...block, text: redact(block.text) } : block,
    ),
  };
}

export function redactData(data: unknown): unknown {
  if (data === undefined) return undefined;
  if (typeof data === 'string') return redact(data);
  try {
    return JSON.parse(redact(JSON.stringify(data)));
  } catch {
    return undefined;
  }
}

export function unknownTarget(target: RequestTarget): Error {
  switch (target.kind) {
    case 'tool':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: "${target.name}"`);
    case 'prompt':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown prompt: "${target.name}"`);
    case 'resource':
      return new ResourceNotFoundError(target.uri);
    case 'task':
      return new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown task: "${target.taskId ?? ''}"`);
  }
}
