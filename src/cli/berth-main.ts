// Entry of the bundled berth CLI, started by src/cli/launcher.ts.
import { main } from './berth.js';
import { serveWorker } from './worker.js';

export { main };
/** A CLI worker (src/cli/worker.ts), which berthd starts. */
export const worker = () => serveWorker(main);
export { warmPlanning as warm } from '../runtime/index.js';
