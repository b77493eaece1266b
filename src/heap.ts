/**
 * V8's young generation (new space) is kept at its initial size until the proxy has traffic, then may grow as it
 * needs. Loading the SDKs and opening every upstream's session allocate in bursts that grow it to its maximum,
 * which V8 keeps committed: an idle proxy with 20 upstreams held ~107 MB of RSS that way and ~88 MB with the growth
 * held back, while under load a young generation held small costs ~10 % more CPU per call (measured with
 * `npm run bench`), so growth is let go at the first request forwarded to an upstream.
 *
 * V8 reads the factor whenever it decides to grow the space, so it can be set at any time; holding it from the
 * start is the CLI's first import (./hold-young-generation.ts).
 */
import v8 from 'node:v8';

const V8_DEFAULT_GROWTH_FACTOR = 2;

let held = false;

export function holdYoungGeneration(): void {
  held = true;
  v8.setFlagsFromString('--semi-space-growth-factor=1');
}

/** Idempotent and cheap: called for every forwarded request, it acts on the first after a hold. */
export function letYoungGenerationGrow(): void {
  if (!held) return;
  held = false;
  v8.setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`);
}
