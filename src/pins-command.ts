/**
 * `mcp-upstream-proxy pins accept <upstream> [tool]`: accepts a changed tool definition that pinning withholds
 * (src/catalog/pins.ts) by forgetting its pin; the definition the upstream lists next is pinned and exposed. A
 * command for the user's terminal, not for an MCP client: its one line of output goes to stdout.
 */
import { acceptPins } from './catalog/index.js';
import { readOAuthSettings } from './config/index.js';

export const PINS_USAGE = `Usage: mcp-upstream-proxy pins accept <upstream> [tool]

Accepts the new definition of a tool withheld because it changed since it was pinned (pin_tools), or of every
pinned tool of the upstream when no tool is named. A running proxy exposes it at the upstream's next list (its
next reconnect or list change); a restart does at once. Pins are kept under PROXY_TOKEN_DIR (default
~/.mcp-devtools/oauth), in <upstream>/pins.json.`;

const NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** Runs the command with the arguments after `pins`; resolves with the exit code. */
export async function runPinsCommand(args: string[], env: NodeJS.ProcessEnv): Promise<number> {
  const [verb, upstream, tool, ...extra] = args;
  if (verb === '--help' || verb === '-h') {
    process.stdout.write(`${PINS_USAGE}\n`);
    return 0;
  }
  if (verb !== 'accept' || upstream === undefined || !NAME.test(upstream) || extra.length > 0) {
    process.stderr.write(`mcp-upstream-proxy pins: expected "accept <upstream> [tool]"\n\n${PINS_USAGE}\n`);
    return 2;
  }
  const problems: string[] = [];
  const { tokenRoot } = readOAuthSettings(env, problems);
  const accepted = await acceptPins(tokenRoot, upstream, tool);
  if (accepted === 0) {
    const what = tool === undefined ? 'no pinned tools' : `no pin for tool "${tool}"`;
    process.stderr.write(`mcp-upstream-proxy pins: upstream "${upstream}" has ${what}\n`);
    return 1;
  }
  const what = tool === undefined ? `${accepted} tool pin${accepted === 1 ? '' : 's'}` : `tool "${tool}"`;
  process.stdout.write(`upstream "${upstream}": accepted ${what}; the next definition listed is pinned\n`);
  return 0;
}
