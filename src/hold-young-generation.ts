/** Imported first by the CLI, for its effect: nothing has allocated yet (see ./heap.ts). */
import { holdYoungGeneration } from './heap.js';

holdYoungGeneration();
