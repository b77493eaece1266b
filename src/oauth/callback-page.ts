/**
 * The pages the OAuth callback answers the browser with: what happened to the sign-in, in plain words, and headers
 * that keep the authorization code in the address bar out of any Referer and let the page load nothing at all.
 */
import type { ServerResponse } from 'node:http';

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"'`]/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** A callback the server could not parse, or for another path or method. */
export function sendBadRequest(response: ServerResponse): void {
  sendPage(response, 400, 'Bad request', '<p>This request could not be read.</p>');
}

export function sendNotFound(response: ServerResponse): void {
  sendPage(response, 404, 'Not found', '<p>Nothing here.</p>');
}

/** A state no sign-in is waiting for: `reused` when one did, and was answered or timed out. */
export function sendUnrecognized(response: ServerResponse, reused: boolean): void {
  sendPage(
    response,
    400,
    'Sign-in link not recognized',
    `<p>${
      reused
        ? 'This sign-in response was already used, or its sign-in has timed out.'
        : 'This sign-in response does not belong to a sign-in in progress.'
    } Nothing was changed.</p><p>Start the sign-in again from your MCP client if it is still needed.</p>`,
  );
}

/** An `error=` callback: the authorization server refused, `code` and `description` made printable already. */
export function sendDenied(response: ServerResponse, upstream: string, code: string, description?: string): void {
  sendPage(
    response,
    200,
    `Sign-in to ${upstream} failed`,
    `<p>Sign-in to <strong>${escapeHtml(upstream)}</strong> failed: <code>${escapeHtml(code)}</code>${
      description ? ` — ${escapeHtml(description)}` : ''
    }.</p><p>You can close this tab and try again from your MCP client.</p>`,
  );
}

export function sendIncomplete(response: ServerResponse, upstream: string): void {
  sendPage(
    response,
    400,
    'Sign-in response incomplete',
    `<p>The sign-in response for <strong>${escapeHtml(upstream)}</strong> carries no authorization code. The sign-in is still waiting.</p>`,
  );
}

export function sendSignedIn(response: ServerResponse, upstream: string): void {
  sendPage(
    response,
    200,
    `Signed in to ${upstream}`,
    `<p>Signed in to <strong>${escapeHtml(upstream)}</strong>. You can close this tab.</p>`,
  );
}

function sendPage(response: ServerResponse, status: number, title: string, body: string): void {
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;line-height:1.5}</style>
</head><body><h1>${escapeHtml(title)}</h1>${body}<p><small>mcp-upstream-proxy</small></p></body></html>
`;
  response.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(html),
    'cache-control': 'no-store',
    // The address bar holds the code: keep it out of any Referer, and let the page load nothing at all.
    'referrer-policy': 'no-referrer',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'",
    'x-content-type-options': 'nosniff',
    'x-frame-options': 'DENY',
  });
  response.end(html);
}
