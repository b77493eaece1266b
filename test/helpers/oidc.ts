/**
 * What every test against node-oidc-provider sets up: the fixture (provider and MCP server), a sign-in workspace,
 * cleanups run after each test in reverse order, and the fixture's `echo` tool called through the proxy.
 */
import { afterEach } from 'vitest';
import {
  type OidcUpstreamFixture,
  type StartOidcUpstreamOptions,
  startOidcUpstream,
} from '../fixtures/oidc-upstream.js';
import type { TestProxy } from './proxy.js';
import { type SignInWorkspace, signInWorkspace } from './sign-in.js';

export interface OidcTestKit {
  /** Run after the current test, last added first. */
  cleanups: Array<() => Promise<void>>;
  oidcUpstream(options?: StartOidcUpstreamOptions): Promise<OidcUpstreamFixture>;
  workspace(): Promise<SignInWorkspace>;
}

/** Call once at the top of a test file; `prefix` names the temp folders. */
export function useOidcTestKit(prefix: string): OidcTestKit {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  return {
    cleanups,
    async oidcUpstream(options = {}) {
      const fixture = await startOidcUpstream(options);
      cleanups.push(() => fixture.close());
      return fixture;
    },
    workspace: () => signInWorkspace(prefix, cleanups),
  };
}

/** The fixture's `echo` tool through the proxy: its text, and whether the result is an error. */
export async function echo(proxy: TestProxy, text: string): Promise<{ text: string; isError: boolean }> {
  const result = (await proxy.client.callTool({ name: 'echo', arguments: { text } })) as {
    content: Array<{ text?: string }>;
    isError?: boolean;
  };
  return { text: result.content[0]?.text ?? '', isError: result.isError === true };
}
