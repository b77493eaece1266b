/**
 * V8's young generation (new space) is kept at its initial size until startup has settled, then may grow as
 * traffic needs. Loading the SDKs and opening every upstream's session allocate in bursts that grow it to its
 * maximum, which V8 keeps committed: an idle proxy with 20 upstreams held ~107 MB of RSS that way and ~88 MB with
 * the growth held back, while under load a young generation held small costs ~10 % more CPU per call (measured
 * with `npm run bench`), so growth is let go once the first list is answered.
 *
 * Imported first by the CLI, for its effect: V8 reads the factor whenever it decides to grow the space.
 */
import v8 from 'node:v8';

const V8_DEFAULT_GROWTH_FACTOR = 2;

v8.setFlagsFromString('--semi-space-growth-factor=1');

export function letYoungGenerationGrow(): void {
  v8.setFlagsFromString(`--semi-space-growth-factor=${V8_DEFAULT_GROWTH_FACTOR}`);
}
