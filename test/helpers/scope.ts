/** Upstreams and proxies for one test file, all closed after each test (last started, first closed). */
import { afterEach } from 'vitest';
import {
  type StartUpstreamOptions,
  startUpstream,
  type UpstreamFixture,
  type UpstreamKind,
} from '../fixtures/upstreams.js';
import { startTestProxy, type TestProxy, type TestUpstream } from './proxy.js';

export function useTestScope() {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const defer = (cleanup: () => Promise<void>) => {
    cleanups.push(cleanup);
  };
  return {
    defer,
    async upstream(kind: UpstreamKind, options: Omit<StartUpstreamOptions, 'kind'> = {}): Promise<UpstreamFixture> {
      const fixture = await startUpstream({ ...options, kind });
      defer(() => fixture.close());
      return fixture;
    },
    async proxy(upstreams: TestUpstream[], options?: Parameters<typeof startTestProxy>[1]): Promise<TestProxy> {
      const proxy = await startTestProxy(upstreams, options);
      defer(() => proxy.close());
      return proxy;
    },
  };
}
