export { createToolFilter, type ToolFilterPatterns } from './filter.js';
export { MAX_TOOL_NAME_LENGTH, toClientSafeName } from './naming.js';
export { buildToolRegistry, type ExposedTool, type ToolRegistry, type UpstreamToolSource } from './registry.js';
