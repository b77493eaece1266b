/**
 * Tool pinning (a guard against "rug pulls"): the first definition seen of each tool of an upstream is kept, as
 * hashes of its description and schemas, in `<PROXY_TOKEN_DIR>/<name>/pins.json` (0600, beside the tokens). A tool
 * whose definition changes later is withheld from the client, with what changed, until the user accepts the new
 * one (`mcp-upstream-proxy pins accept <upstream> [tool]`, which forgets the pin: the next definition seen is
 * pinned). The file is read again at every list, so an accept takes effect at the upstream's next list.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Tool } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { canonicalJson } from '../canonical-json.js';
import { writePrivateFile } from '../files/private-files.js';
import type { WithheldTool } from './types.js';

export const PINS_FILE = 'pins.json';

/** The parts of a definition that are pinned (the name is the key). */
const PINNED = ['description', 'inputSchema', 'outputSchema'] as const;
export type PinnedField = (typeof PINNED)[number];

type Pin = Record<PinnedField, string>;

const fileSchema = z.object({
  version: z.literal(1),
  tools: z.record(z.string(), z.object({ description: z.string(), inputSchema: z.string(), outputSchema: z.string() })),
});

function pinOf(tool: Tool): Pin {
  const hash = (value: unknown) => createHash('sha256').update(canonicalJson(value)).digest('hex');
  return {
    description: hash(tool.description),
    inputSchema: hash(tool.inputSchema),
    outputSchema: hash(tool.outputSchema),
  };
}

async function readPins(path: string): Promise<Record<string, Pin>> {
  try {
    const parsed = fileSchema.safeParse(JSON.parse(await readFile(path, 'utf8')));
    return parsed.success ? parsed.data.tools : {};
  } catch {
    return {};
  }
}

export interface ToolPinsOptions {
  /** The token root (PROXY_TOKEN_DIR or ~/.mcp-devtools/oauth). */
  root: string;
  upstream: string;
  /** Told about a pins file that cannot be written (never its content). */
  onWarning: (message: string) => void;
}

export interface PinCheck {
  /** The tools to expose: every pinned tool whose definition is the pinned one, and every new tool (now pinned). */
  tools: Tool[];
  /** The tools whose definition changed since it was pinned. */
  withheld: WithheldTool[];
}

/** One upstream's pins. */
export class ToolPins {
  private readonly dir: string;

  constructor(private readonly options: ToolPinsOptions) {
    this.dir = join(options.root, options.upstream);
  }

  /** Compares a fresh list with the pins: new tools are pinned (and the file written), changed ones withheld. */
  async check(tools: Tool[]): Promise<PinCheck> {
    const pins = await readPins(join(this.dir, PINS_FILE));
    const exposed: Tool[] = [];
    const withheld: WithheldTool[] = [];
    let added = false;
    for (const tool of tools) {
      const seen = pinOf(tool);
      const pinned = pins[tool.name];
      if (pinned === undefined) {
        pins[tool.name] = seen;
        added = true;
        exposed.push(tool);
        continue;
      }
      const changed = PINNED.filter((field) => pinned[field] !== seen[field]);
      if (changed.length === 0) exposed.push(tool);
      else withheld.push({ name: tool.name, changed });
    }
    if (added) {
      await writePrivateFile(this.dir, PINS_FILE, `${JSON.stringify({ version: 1, tools: pins }, null, 2)}\n`).catch(
        (error: unknown) =>
          this.options.onWarning(
            `upstream "${this.options.upstream}": cannot save its tool pins (${(error as Error).message}); they hold for this session only`,
          ),
      );
    }
    return { tools: exposed, withheld };
  }
}

/**
 * Forgets the pin of `tool` (or of every tool of the upstream), so that the definition the upstream lists next is
 * taken and pinned. Returns how many pins were forgotten.
 */
export async function acceptPins(root: string, upstream: string, tool?: string): Promise<number> {
  const dir = join(root, upstream);
  const pins = await readPins(join(dir, PINS_FILE));
  const names = tool === undefined ? Object.keys(pins) : Object.keys(pins).filter((name) => name === tool);
  for (const name of names) delete pins[name];
  if (names.length > 0) {
    await writePrivateFile(dir, PINS_FILE, `${JSON.stringify({ version: 1, tools: pins }, null, 2)}\n`);
  }
  return names.length;
}
