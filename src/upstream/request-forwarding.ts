/**
 * Forwarding one request to an upstream as it is, and how it ended: a result, the upstream's JSON-RPC error, or a
 * failure classified so that the call machine knows whether it may send the request again (never sent) or not.
 * The server-to-client requests the upstream makes while serving it (sampling, elicitation, roots) go to the
 * handler of that request, or to the downstream client when there is none.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { type Result, SdkError, SdkErrorCode } from '@modelcontextprotocol/client';
import type { CallOutcome, ClientRequestHandler, ForwardedRequest } from '../../machines/types.js';
import { MaxCallTimeError, NotSentError } from '../errors/index.js';
import { upstreamResultSchema } from '../tasks/wire.js';
import { CLIENT_REQUESTS, type ClientBridge, type ClientRequestMethod } from './bridge.js';
import type { UpstreamClient } from './client.js';
import { classifyCallError, networkReason } from './failures.js';
import { inRequestScope } from './request-scope.js';

/**
 * The request being served, for the server-to-client requests the upstream makes meanwhile: they arrive on that
 * request's response stream (or in its input_required rounds), so they run in its async context.
 */
const servingRequest = new AsyncLocalStorage<ClientRequestHandler>();

export interface ForwardingOptions {
  name: string;
  client: UpstreamClient;
  bridge: ClientBridge;
}

/** Sends `request` upstream untouched; never rejects. `ended` aborts its HTTP exchange however the call ends. */
export type ForwardRequest = (request: ForwardedRequest, ended?: AbortSignal) => Promise<CallOutcome>;

/** Registers the handlers of the upstream's requests to the client, and returns the forwarding of ours to it. */
export function createRequestForwarding({ name, client, bridge }: ForwardingOptions): ForwardRequest {
  /** The per-request handlers of the requests in flight here, latest last (see the handlers below). */
  const serving = new Set<ClientRequestHandler>();

  // Only what the downstream client declared: the SDK refuses a handler for an undeclared capability.
  for (const [method, capability] of Object.entries(CLIENT_REQUESTS) as Array<[ClientRequestMethod, string]>) {
    if (!(capability in bridge.capabilities)) continue;
    client.setRequestHandler(method, (request, ctx) => {
      const params = request.params as Record<string, unknown> | undefined;
      // Made while serving one of our requests (its response stream, or a 2026-07-28 input_required round)? Over
      // legacy SSE every server request arrives on the one stream, outside any request's async context: it is
      // taken to belong to the latest request in flight, which a 2026-07-28 client can only be asked within.
      const perRequest = servingRequest.getStore() ?? [...serving].at(-1);
      // The client's answer goes back as it is; the SDK validates it against the method's result schema.
      if (perRequest) return perRequest(method, params, ctx.mcpReq.signal) as never;
      return bridge.request(name, method, params, ctx.mcpReq.signal) as never;
    });
  }

  return async (request, ended) => {
    const { method, params, label, timeoutMs, maxTotalMs, signal, onProgress, onClientRequest } = request;
    // Results passed on as they are, and task requests, have schemas of ours (src/tasks/wire.ts).
    const resultSchema = upstreamResultSchema(method);
    try {
      // The generic `request`: a proxy passes the result on as it is, without validating it against a tool's
      // outputSchema (that is the client's business) or caching anything.
      const options = {
        timeout: timeoutMs,
        resetTimeoutOnProgress: true,
        ...(maxTotalMs !== undefined && { maxTotalTimeout: maxTotalMs }),
        signal,
        onprogress: onProgress,
      };
      const send = () =>
        inRequestScope(ended, (headers): Promise<Result> => {
          const scoped = { ...options, headers };
          return resultSchema
            ? (client.request({ method, params } as never, resultSchema, scoped) as Promise<Result>)
            : client.request({ method, params } as never, scoped);
        });
      if (!onClientRequest) return { type: 'result', result: await send() };
      serving.add(onClientRequest);
      try {
        return { type: 'result', result: await servingRequest.run(onClientRequest, send) };
      } finally {
        serving.delete(onClientRequest);
      }
    } catch (error) {
      if (maxTotalMs !== undefined && ranOutOfTotalTime(error)) {
        return {
          type: 'failure',
          failure: new MaxCallTimeError(
            `${label} on upstream "${name}" still ran after ${maxTotalMs} ms (max_call_ms), progress or not; stopped`,
          ),
        };
      }
      if (neverSent(error)) {
        return {
          type: 'failure',
          failure: new NotSentError(
            `upstream "${name}" refused the connection for ${label} (${networkReason(error)}); it is reconnecting`,
            { reason: networkReason(error) },
          ),
        };
      }
      // The SDK rejects an aborted request as a timeout: the client's own cancel is told apart here.
      return classifyCallError(name, label, timeoutMs, error, signal?.aborted === true);
    }
  };
}

/** Failures of the connection attempt itself: no byte of the request reached the upstream. */
const CONNECT_PHASE_CODES = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function neverSent(error: unknown): boolean {
  let current: unknown = error;
  for (let depth = 0; depth < 6 && current instanceof Error; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && CONNECT_PHASE_CODES.has(code)) return true;
    current = current.cause;
  }
  return false;
}

/** The SDK's own bound on a request's whole duration (`maxTotalTimeout`), which progress does not reset. */
function ranOutOfTotalTime(error: unknown): boolean {
  return (
    error instanceof SdkError &&
    error.code === SdkErrorCode.RequestTimeout &&
    (error.data as { maxTotalTimeout?: unknown } | undefined)?.maxTotalTimeout !== undefined
  );
}
