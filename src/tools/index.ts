export { createToolFilter, type ToolFilterPatterns } from './filter.js';
export { MAX_TOOL_NAME_LENGTH, type NameLimit, toClientSafeName } from './naming.js';
export { buildToolRegistry, type ExposedTool, type ToolRegistry, type UpstreamToolSource } from './registry.js';
export { createToolView, isReadOnlyTool, type LeftOutReason, type ToolView, type ToolViewOptions } from './view.js';
