// Entry of the bundled berth CLI, started by src/cli/launcher.ts.
export { main } from './berth.js';
export { warmPlanning as warm } from '../runtime/warmup.js';
