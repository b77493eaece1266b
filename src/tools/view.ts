/**
 * What one upstream's tools look like to the client beyond its filter: per-tool overrides (a new name, a new
 * description, hidden), read_only, and the longest name the client takes (PROXY_MAX_TOOL_NAME).
 */
import type { ToolOverride } from '../config/index.js';
import { MAX_TOOL_NAME_LENGTH } from './naming.js';

/** Why a tool is left out: its upstream's include_tools/ignore_tools, a `hidden` override, or read_only. */
export type LeftOutReason = 'filter' | 'hidden' | 'read_only';

export interface ToolView {
  /** By the upstream's own tool name. */
  readonly overrides: ReadonlyMap<string, ToolOverride>;
  readonly readOnly: boolean;
  readonly maxNameLength: number;
}

export interface ToolViewOptions {
  overrides?: Readonly<Record<string, ToolOverride>>;
  readOnly?: boolean;
  /** PROXY_MAX_TOOL_NAME; absent: MAX_TOOL_NAME_LENGTH. */
  maxNameLength?: number;
}

/** Made once per upstream: the registry keeps its work per view (by identity), like per filter. */
export function createToolView(options: ToolViewOptions = {}): ToolView {
  return {
    overrides: new Map(Object.entries(options.overrides ?? {})),
    readOnly: options.readOnly ?? false,
    maxNameLength: options.maxNameLength ?? MAX_TOOL_NAME_LENGTH,
  };
}

/** Annotations as a tool may carry them; prompts and odd upstreams carry none. */
interface Annotated {
  annotations?: { readOnlyHint?: unknown; destructiveHint?: unknown };
}

/** Read-only means annotated so, and not also destructive (hints are only hints: both may be set). */
export function isReadOnlyTool(tool: object): boolean {
  const annotations = (tool as Annotated).annotations;
  return annotations?.readOnlyHint === true && annotations.destructiveHint !== true;
}
