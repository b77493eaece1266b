/**
 * The user of a device sign-in (RFC 8628), on "another device": opens the verification URL the proxy printed and
 * goes through node-oidc-provider's pages as a browser would, with a cookie jar (the provider ties the form's xsrf
 * and the interaction to cookies). Its pages are forms: the verification_uri_complete page auto-submits the code,
 * the confirm page is submitted with `confirm=yes` (or its abort button, `abort=yes`), and the login and consent
 * interaction of the fixture (test/fixtures/oidc-provider.ts) completes by itself through redirects.
 */

const MAX_STEPS = 10;

export interface DeviceUserResult {
  /** The last page's status and text (the provider's success page, or its page after an abort). */
  status: number;
  page: string;
}

/** `user_code=ABCD-EFGH` and such, decoded as a browser would before submitting. */
function decodeEntities(text: string): string {
  return text
    .replace(/&#(\d+);/g, (_, code: string) => String.fromCharCode(Number(code)))
    .replace(/&#x([0-9a-f]+);/gi, (_, code: string) => String.fromCharCode(Number.parseInt(code, 16)))
    .replaceAll('&quot;', '"')
    .replaceAll('&lt;', '<')
    .replaceAll('&gt;', '>')
    .replaceAll('&amp;', '&');
}

interface Form {
  id?: string;
  action: string;
  fields: URLSearchParams;
}

/** The page's forms, with their hidden fields (the only inputs these pages prefill). */
function formsOf(page: string, base: URL): Form[] {
  const forms: Form[] = [];
  for (const match of page.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const attributes = match[1] ?? '';
    const action = /\baction="([^"]*)"/i.exec(attributes)?.[1];
    const id = /\bid="([^"]*)"/i.exec(attributes)?.[1];
    const fields = new URLSearchParams();
    for (const input of (match[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const name = /\bname="([^"]*)"/i.exec(input[1] ?? '')?.[1];
      const value = /\bvalue="([^"]*)"/i.exec(input[1] ?? '')?.[1];
      if (name !== undefined && value !== undefined) fields.append(decodeEntities(name), decodeEntities(value));
    }
    forms.push({ id, action: new URL(decodeEntities(action ?? base.href), base).href, fields });
  }
  return forms;
}

export class DeviceUser {
  /** origin → cookie name → value; paths and expiry are ignored, enough for one sign-in. */
  private readonly jar = new Map<string, Map<string, string>>();

  private async request(url: URL, init: { method: 'GET' | 'POST'; body?: URLSearchParams }): Promise<Response> {
    const cookies = this.jar.get(url.origin);
    const headers: Record<string, string> = {};
    if (cookies?.size) headers.cookie = [...cookies].map(([name, value]) => `${name}=${value}`).join('; ');
    const response = await fetch(url, { ...init, headers, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
    const jar = this.jar.get(url.origin) ?? new Map<string, string>();
    for (const line of response.headers.getSetCookie()) {
      const [pair = ''] = line.split(';');
      const at = pair.indexOf('=');
      if (at > 0) jar.set(pair.slice(0, at).trim(), pair.slice(at + 1).trim());
    }
    this.jar.set(url.origin, jar);
    return response;
  }

  /**
   * Opens `verificationUrl` and approves (or, with `abort`, refuses) the sign-in. `userCode` is entered when the
   * URL does not carry it already (a plain `verification_uri`).
   */
  async approve(
    verificationUrl: string,
    options: { userCode?: string; abort?: boolean } = {},
  ): Promise<DeviceUserResult> {
    let url = new URL(verificationUrl);
    let init: { method: 'GET' | 'POST'; body?: URLSearchParams } = { method: 'GET' };
    for (let step = 0; step < MAX_STEPS; step++) {
      const response = await this.request(url, init);
      const location = response.headers.get('location');
      if (response.status >= 300 && response.status < 400 && location) {
        url = new URL(location, url);
        init = { method: 'GET' };
        continue;
      }
      const page = await response.text();
      const forms = formsOf(page, url);
      const confirm = forms.find((form) => form.id === 'op.deviceConfirmForm');
      const input = forms.find((form) => form.id === 'op.deviceInputForm');
      if (confirm) {
        // The confirm page: its Continue button submits the form as is; its Abort button adds abort=yes.
        if (options.abort) confirm.fields.set('abort', 'yes');
        url = new URL(confirm.action);
        init = { method: 'POST', body: confirm.fields };
      } else if (input && options.userCode && !input.fields.has('user_code')) {
        input.fields.set('user_code', options.userCode);
        options = { ...options, userCode: undefined };
        url = new URL(input.action);
        init = { method: 'POST', body: input.fields };
      } else if (forms.length === 1 && !input && /document\.forms\[0\]\.submit\(\)/.test(page)) {
        // The auto-submitting page (what verification_uri_complete opens): a browser with scripts posts it.
        const [form] = forms as [Form];
        url = new URL(form.action);
        init = { method: 'POST', body: form.fields };
      } else {
        return { status: response.status, page };
      }
    }
    throw new Error(`the device sign-in pages took more than ${MAX_STEPS} steps`);
  }
}
